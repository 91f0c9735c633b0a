"""The record of a run that failed in a way no message covers (a bug): its traceback, command
line, version and time, in a file the person can send on.

Running the command again with --debug is not always possible: a student's `atelier serve`
is started by the dashboard's job, and the moment is gone when the session has ended. So, like
pipx's per-run logs, each such failure leaves a file in a private folder of the user's, and
old ones are pruned as new ones come. The folder is the one named by `VARIABLE` (the Open
OnDemand job names the session's own folder, where the session card offers the file for
download), else the XDG state folder's atelier/log. The command line reads the environment
and hands it in; nothing here prints.
"""

from __future__ import annotations

import itertools
import os
import platform
import sys
import traceback
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from atelier import files

VARIABLE = "ATELIER_LOG_DIR"  # set by the OOD job script to the session's folder
STATE = Path(".local") / "state"  # under the home folder, where $XDG_STATE_HOME is unset
FOLDER = Path("atelier") / "log"  # under the state folder
PATTERN = "atelier-*.log"  # every failure's file; the session card looks for these in the session's folder
KEEP = 20  # the newest records kept in a folder...
MAX_AGE = timedelta(days=30)  # ...and none older than this


def log_folder(environ: Mapping[str, str], home: Path) -> Path:
    """Where this run's record goes: `VARIABLE` if set, else $XDG_STATE_HOME/atelier/log, else
    ~/.local/state/atelier/log (the XDG spec ignores a relative $XDG_STATE_HOME)."""
    if environ.get(VARIABLE):
        return Path(environ[VARIABLE]).expanduser()
    state = environ.get("XDG_STATE_HOME", "")
    return (Path(state) if Path(state).is_absolute() else home / STATE) / FOLDER


def record(folder: Path, error: BaseException, details: Mapping[str, object], now: datetime) -> Path:
    """Write `error`'s traceback after `details` (command line, version, ...: one "name: value" line
    each) to a new file in `folder`, made private; prune older records; return the file.

    A folder made here is mode 700 and the file 600: a traceback can show paths and values of
    the person's. An existing folder (a session's) keeps its mode. Raises OSError if it cannot
    be written; the caller then falls back to asking for --debug.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    header = {
        "time": now.isoformat(timespec="seconds"),
        **details,
        "python": f"{platform.python_version()} ({sys.executable})",
        "system": platform.platform(),
    }
    lines = [f"atelier stopped because of an error of its own: {type(error).__name__}: {error}", ""]
    lines += [f"{name}: {value}" for name, value in header.items() if value not in (None, "")]
    text = "\n".join(lines) + "\n\n" + "".join(traceback.format_exception(error))
    stem = f"atelier-{now.strftime(files.ASIDE_STAMP)}-{os.getpid()}"  # dated as every kept-aside file
    path, tries = folder / f"{stem}.log", itertools.count(2)
    while True:
        try:
            out = open(path, "x", encoding="utf-8", opener=lambda name, flags: os.open(name, flags, 0o600))
            break
        except FileExistsError:  # a second failure in the same second of the same process
            path = folder / f"{stem}-{next(tries)}.log"
    with out:
        out.write(text)
    prune(folder, now, spare=path)
    return path


def prune(folder: Path, now: datetime, spare: Path | None = None) -> list[Path]:
    """Delete the records in `folder` past the newest `KEEP` or older than `MAX_AGE` (never `spare`,
    nor any other file); return those deleted. One that cannot be deleted is left."""
    dated = []
    for path in folder.glob(PATTERN):
        try:
            dated.append((path.stat().st_mtime, path))
        except OSError:
            continue  # gone meanwhile: another run pruned it
    dated.sort(reverse=True)
    oldest = (now - MAX_AGE).timestamp()
    removed = []
    for index, (mtime, path) in enumerate(dated):
        if path != spare and (index >= KEEP or mtime < oldest):
            try:
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
