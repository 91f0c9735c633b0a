"""A real single-node Slurm cluster for the `slurm` tier, started from Debian's packages.

The cluster itself is atelier.hpc.localslurm (benchmarks/sweep.py starts the same one):
munged, slurmctld and slurmd run as children of the test session, with their own
configuration, key, sockets, ports, state and logs in a temporary folder, so nothing on
the machine (or in /etc) is used or changed and nothing outlives the session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from atelier.hpc import localslurm
from atelier.hpc.localslurm import SlurmCluster
from atelier.hpc.localslurm import cancel_all as _cancel_all

__all__ = ["SlurmCluster", "_cancel_all", "local_cluster"]


def _fail_test(text: str) -> None:
    pytest.fail(text, pytrace=False)


def local_cluster(
    folder: Path, fail: Callable[[str], None] = _fail_test
) -> contextlib.AbstractContextManager[SlurmCluster]:
    """The one-node cluster in `folder`; a daemon that does not start fails the test, with the logs."""
    return localslurm.local_cluster(folder, fail)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """One cluster for the whole test session."""
    with local_cluster(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _empty_queue(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the cluster, cancel what it left, so the next starts clean."""
    yield
    if "slurm" in request.fixturenames:
        _cancel_all(request.getfixturevalue("slurm").env)
