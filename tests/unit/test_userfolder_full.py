"""A full home: saved work stays safe, and no failed write leaves a file behind in the full folder.

The student's folder is a real tmpfs of 256 KB, filled up (tests/fulldisk.py; root only).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from atelier.files import Lock, write_whole
from atelier.keep.userfolder import SessionCopy, StudentFolder
from tests.fulldisk import FILLER, fill, small_disk

WORKFLOW = "workflows/my-big.json"
BIG = ('{"nodes": [' + ", ".join(['{"id": 1, "note": "' + "x" * 200 + '"}'] * 160) + "]}").encode()  # ~32 KB


def leftovers(folder: Path) -> list[str]:
    """What a student would see in the Files app besides their own files and the test's filler."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != FILLER and p.name.startswith(".")
    )


@pytest.fixture
def full(tmp_path: Path):
    with small_disk(tmp_path / "home") as home:
        yield home


def test_a_write_that_runs_out_of_space_leaves_the_old_file_and_nothing_else(full: Path) -> None:
    target = full / "settings.json"
    write_whole(target, b'{"old": true}')
    fill(full)
    with pytest.raises(OSError) as raised:
        write_whole(target, BIG)
    assert raised.value.errno == errno.ENOSPC
    assert target.read_bytes() == b'{"old": true}'
    assert leftovers(full) == []


def test_a_failed_sync_of_a_full_folder_leaves_no_temporary_file_and_keeps_the_work(tmp_path: Path, full: Path) -> None:
    copy = SessionCopy(StudentFolder(full / "atelier-comfyui"), tmp_path / "node" / "user", "session 1")
    copy.seed()
    (copy.local / WORKFLOW).parent.mkdir(parents=True)
    (copy.local / WORKFLOW).write_bytes(BIG)
    filler = fill(full, leave=8192)  # room for the lock, not for the workflow
    for _ in range(3):  # a sync every few seconds, each failing
        with pytest.raises(OSError) as raised:
            copy.sync()
        assert raised.value.errno == errno.ENOSPC
    assert leftovers(full) == []  # no .my-big.json.<hex>.tmp, and no lock left holding the next session off
    assert not (copy.student.user / WORKFLOW).exists()
    assert (copy.local / WORKFLOW).read_bytes() == BIG  # the session's copy still holds the work
    filler.unlink()  # the student makes room in the Files app
    assert copy.sync().sent == [WORKFLOW]
    assert (copy.student.user / WORKFLOW).read_bytes() == BIG


def test_a_lock_that_cannot_be_written_is_not_left_behind(full: Path) -> None:
    fill(full)
    lock = full / ".sync-lock"
    with pytest.raises(OSError) as raised, Lock(lock):
        pass
    assert raised.value.errno == errno.ENOSPC
    assert not lock.exists()
    os.unlink(full / FILLER)
    with Lock(lock):
        assert lock.exists()
    assert not lock.exists()
