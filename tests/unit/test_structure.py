"""House rules that code review would otherwise have to remember."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "atelier"
PRINTS = re.compile(r"^\s*(print\(|click\.echo|click\.secho|Console\(\)\.print)", re.MULTILINE)


def test_library_code_never_prints() -> None:
    """Only the CLI layer talks to the terminal."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in PACKAGE.rglob("*.py")
        if path.name not in {"cli.py", "cli_keep.py", "cli_screenshots.py", "cli_bench.py", "testmodels_torch.py"}  # the programs; the rest is library
        for text in [path.read_text()]
        for match in PRINTS.finditer(text)
    ]
    assert offenders == []


def test_modules_stay_small() -> None:
    """Past ~800 lines a file does more than one job."""
    sizes = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 800} == {}
