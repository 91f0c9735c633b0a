"""Reading the project's YAML and JSON files with errors that name the file and line, writing
files whole, and a lock file that holds across the nodes sharing one file system."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from atelier.messages import AtelierError

LOCK_WAIT, LOCK_STALE = 20.0, 60.0  # seconds: a holder keeps it for moments; a lock this old was left by a killed job
# The date-time that names a folder of things kept aside (replaced, deleted, quarantined, set aside)
# and a comparison: sorts as it reads, and has no ":" for Windows or Box. The Compare extension,
# which cannot import this, holds a copy (tests/unit/test_copies.py).
ASIDE_STAMP = "%Y-%m-%d_%H-%M-%S"


def aside_stamp(when: float | None = None) -> str:
    """Now (or `when`, seconds since the epoch) as a folder name, in local time: what a person looks for."""
    return time.strftime(ASIDE_STAMP, time.localtime(when))


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise AtelierError(
            "yaml-malformed",
            file=path,
            line=mark.line + 1 if mark else "?",
            problem=getattr(err, "problem", None) or "unreadable",
        ) from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AtelierError("json-malformed", file=path, line=err.lineno, column=err.colno, problem=err.msg) from None


def write_whole(path: Path, data: bytes) -> None:
    """Write beside, then rename: readers (another session, a backup) never see half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:  # a full disk must not also keep half a file in the folder that is already full
        temporary.unlink(missing_ok=True)


class Lock:
    """A lock file on a shared file system, held for moments: the student's folder's sync, a sweep's submission.

    The lock file holds a token of this holder's own, and only that holder removes it. One
    older than LOCK_STALE (by the file system's own clock, so nodes' clocks do not matter)
    was left by a killed job: it is renamed away first, so two holders that both find it
    stale cannot both take over.
    """

    def __init__(self, path: Path, busy: Callable[[Path], AtelierError] | None = None) -> None:
        self.path = path
        # what to say when it stays held: the student's folder's message, or a sweep's
        self.busy = busy or (lambda lock: AtelierError("user-folder-locked", lock=lock))
        self.token = f"{socket.gethostname()} {os.getpid()} {uuid.uuid4().hex}\n"

    def __enter__(self) -> Lock:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                if self._stale():
                    aside = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex[:8]}.stale")
                    try:
                        os.rename(self.path, aside)  # only one of two breakers gets it
                        aside.unlink(missing_ok=True)
                    except FileNotFoundError:
                        pass
                    continue
                if time.monotonic() > deadline:
                    raise self.busy(self.path) from None
                time.sleep(0.02)
                continue
            try:
                os.write(handle, self.token.encode())
            except OSError:  # a full disk: an empty lock left here would hold off every sync for a minute
                self.path.unlink(missing_ok=True)
                raise
            finally:
                os.close(handle)
            return self

    def _stale(self) -> bool:
        try:
            held = self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        probe = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.now")
        probe.touch()  # the file system's clock, which stamped the lock too
        try:
            return probe.stat().st_mtime - held > LOCK_STALE
        finally:
            probe.unlink(missing_ok=True)

    def __exit__(self, *_: object) -> None:
        try:
            mine = self.path.read_text(encoding="utf-8") == self.token
        except FileNotFoundError:
            return
        if mine:
            self.path.unlink(missing_ok=True)
