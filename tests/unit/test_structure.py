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
        if path.relative_to(PACKAGE).parts[0] != "cli"
        and not path.name.startswith("testmodels_")  # the programs (run by another Python); the rest is library
        for text in [path.read_text()]
        for match in PRINTS.finditer(text)
    ]
    assert offenders == []


def test_modules_stay_small() -> None:
    """Past ~600 lines a file does more than one job (the message catalogue is a table)."""
    sizes = {str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > 600 and name != "messages.py"} == {}


# Each subpackage may import only from those below it; the folder names are the architecture.
LAYERS = [
    {"messages", "files", "fields", "layout", "runlog", "__init__", "__version__"},
    {"lessons"},
    {"comfy"},
    {"keep"},
    {"tools"},
    {"check", "hpc", "project"},
    {"site", "web"},
    {"cli", "__main__"},
]  # web: pages the browser opens outside ComfyUI
IMPORT = re.compile(r"^\s*(?:from atelier\.(\w+)[\w.]* import|from atelier import (\w+))", re.MULTILINE)


def _layer(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def test_imports_only_point_down() -> None:
    """A subpackage never reaches up: lessons know nothing of ComfyUI, the site nothing of the CLI."""
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if "extensions" in path.parts:
            continue  # loaded by ComfyUI itself: they import nothing of atelier's
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for match in IMPORT.finditer(path.read_text()):
            target = match.group(1) or match.group(2)
            if target != own and _layer(target) > _layer(own):
                upward.append(f"{path.relative_to(PACKAGE)} imports atelier.{target}")
    assert upward == []


# What the command line reads once and passes down: ComfyUI's checkout, the install, the project,
# where a bug's traceback is saved.
SETTINGS = (
    "COMFYUI_DIR",
    "COMFYUI_PYTHON",
    "ATELIER_PREFIX",
    "ATELIER_CUSTOM_NODES",
    "ATELIER_PROJECT",
    "ATELIER_MODELS",
    "ATELIER_LOG_DIR",
)


def test_only_the_command_line_reads_which_comfyui_and_project() -> None:
    """Below cli/, a function is told which ComfyUI and project to use; it never looks them up again."""
    readers = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] != "cli"
        for name in SETTINGS
        if re.search(rf"environ(\.get)?\(?\[?[\"']{name}[\"']|getenv\([\"']{name}[\"']", path.read_text())
    ]
    assert readers == []
