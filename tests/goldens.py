"""Golden files: a real output kept in the repository, compared with what each test run makes.

A test makes the text (rendering the message catalogue, running an `atelier` command),
then `compare` checks it against its file: in tests/golden/, or in docs/runbook/transcripts/
for what a Runbook page shows a command printing. After a deliberate change, `REGENERATE`
writes every golden file the unit tier makes from this run's output instead of comparing;
review the diff before committing.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
UPDATE = "ATELIER_UPDATE_GOLDEN"
# The tests that write golden files, so one command remakes them all.
MAKERS = ("tests/unit/test_convert.py", "tests/unit/test_messages.py", "tests/unit/test_runbook_transcripts.py")
REGENERATE = f"{UPDATE}=1 .venv/bin/pytest -q {' '.join(MAKERS)}"


def updating() -> bool:
    return bool(os.environ.get(UPDATE))


def compare(path: Path, text: str) -> None:
    """Fail with the difference when `text` is not what `path` holds; write it instead when updating."""
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    name = path.relative_to(ROOT).as_posix()
    kept = path.read_text(encoding="utf-8") if path.is_file() else ""
    if text == kept:
        return
    diff = "".join(difflib.unified_diff(kept.splitlines(True), text.splitlines(True), name, "this run"))
    pytest.fail(
        f"{name} is not what this run made. If the change is meant, remake the golden files with\n\n"
        f"    {REGENERATE}\n\nand review the diff before committing.\n\n{diff}",
        pytrace=False,
    )
