"""A real, small file system that tests fill up: what a student's home is like when it is full.

A tmpfs of a few hundred KB behaves as a full home does (writes fail with ENOSPC, part of a
file may already be on disk), with no mock of the operating system. Mounting one needs
root; elsewhere the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = ".atelier-test-filler"  # a dot name: the user folder's sync never carries it


@contextmanager
def small_disk(folder: Path, size: str = "256k") -> Iterator[Path]:
    """`folder` as the root of a tmpfs of `size`, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a full file system is a small tmpfs mounted for the test, which needs root: run as root")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"could not mount a small tmpfs for a full file system: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False, capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system `folder` is on until at most `leave` bytes are free; the filler's path."""
    filler = folder / FILLER
    handle = os.open(filler, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        while (free := os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize) > leave:
            try:
                os.write(handle, b"\0" * min(4096, free - leave))
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
                break
    finally:
        os.close(handle)
    return filler
