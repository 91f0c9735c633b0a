"""Whether another account can run what a job runs: the modes of every path on the way.

Apart from install.py because it checks, and changes nothing: a student's job runs
under their own account, so every folder above the install, the install itself and
the Python each environment starts (through every link) must be open to others.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from atelier.layout import Layout


def _mode_check(found: list[str], limit: int) -> Callable[[Path, int], None]:
    def check(path: Path, need: int) -> None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return
        shown = f"{path} ({stat.filemode(mode)})"
        if mode & need != need and len(found) < limit and shown not in found:
            found.append(shown)

    return check


def python_not_shared(python: Path, limit: int = 5) -> list[str]:
    """Where another account is stopped on its way to `python`: every link of the way, the
    folders above each, the interpreter and its standard library."""
    found: list[str] = []
    check = _mode_check(found, limit)

    def with_parents(path: Path) -> None:
        for parent in reversed(path.absolute().parents):
            check(parent, stat.S_IXOTH)
        check(path, stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or os.access(path, os.X_OK) else 0))

    path, seen = python.absolute(), set()
    while path.is_symlink() and path not in seen:  # a venv's python links to its base, maybe via another venv
        seen.add(path)
        with_parents(path)
        path = (path.parent / os.readlink(path)).absolute()
    with_parents(path)
    real = path.resolve()
    with_parents(real)
    for library in sorted(real.parent.parent.glob("lib/python3*/os.py"))[:1]:
        with_parents(library)
    return found


def not_shared(prefix: Path, venvs: list[Path], limit: int = 5) -> list[str]:
    """Paths a student's job needs but another account cannot read or run, with their modes.

    Checks every file and folder of the prefix, the interpreter each venv starts, its
    standard library, and every folder above them: a private home two levels up is enough
    to lock everyone else out.
    """
    found: list[str] = []
    check = _mode_check(found, limit)
    for parent in reversed(prefix.parents):
        check(parent, stat.S_IXOTH)
    check(prefix, stat.S_IROTH | stat.S_IXOTH)
    for venv in venvs:
        if Layout.python(venv).exists():
            found += python_not_shared(Layout.python(venv), limit - len(found))
    for folder, dirs, files in os.walk(prefix):
        base = Path(folder)
        if base == prefix / ".install" or base.name == ".git":
            dirs[:] = []  # install's own state, and git's: no job reads either
            continue
        for name in dirs:
            check(base / name, stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            path = base / name
            if not path.is_symlink():
                check(path, stat.S_IROTH | (stat.S_IXOTH if path.stat().st_mode & stat.S_IXUSR else 0))
        if len(found) >= limit:
            break
    return found
