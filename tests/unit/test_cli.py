"""The CLI's one error path, driven as a user drives it: the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atelier import __version__
from atelier.cli import main
from atelier.lessons.modules import module_folders
from atelier.lessons.pin import load_pin

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, *args], cwd=cwd, capture_output=True, text=True)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"atelier, version {__version__}\n"


def test_help_lists_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "Usage: atelier [OPTIONS] COMMAND [ARGS]..." in result.stdout
    assert "pin" in result.stdout


def test_pin_prints_the_pin() -> None:
    result = run("pin")
    assert result.returncode == 0, result.stderr
    assert "Semester pin 2026-fall" in result.stdout
    assert "0.3.64" in result.stdout
    assert run("pin", "--get", "docs-version").stdout == "2026-4-fall\n"
    assert run("pin", "--get", "docs-title").stdout == "Fall 2026\n"


def test_error_is_one_plain_line_and_exit_code(tmp_path: Path) -> None:
    result = run("pin", "--pin", "old/pin.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: The semester pin old/pin.yaml was not found. "
        "Check the path given with --pin; without it, atelier reads the project's workflows/pin.yaml.\n"
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "pin", "--pin", "old/pin.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: The semester pin")


def test_a_bug_is_reported_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """One line that names the file holding the traceback (tests/unit/test_runlog.py has the rest)."""

    def broken(path: Path) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setenv("ATELIER_LOG_DIR", str(tmp_path))

    monkeypatch.setattr("atelier.cli.lessons.load_pin", broken)
    with pytest.raises(SystemExit) as exit_:
        main(["pin"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    (log,) = tmp_path.glob("atelier-*.log")
    assert err == (
        f"Error: Something went wrong inside atelier (ZeroDivisionError). The details are in {log}; "
        "send that file to your course's support contact.\n"
    )
    assert "ZeroDivisionError: division by zero" in log.read_text()


def test_usage_error_exits_2() -> None:
    result = run("pin", "--get", "colour")
    assert result.returncode == 2
    assert "Invalid value for '--get'" in result.stderr
    assert "Traceback" not in result.stderr


def test_atelier_finds_its_project_from_another_folder(tmp_path: Path) -> None:
    """A maintainer on a login node, or the nightly job, is not in the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "ATELIER_PROJECT"}
    elsewhere = subprocess.run(
        [sys.executable, "-m", "atelier", "pin", "--get", "semester"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert (elsewhere.returncode, elsewhere.stdout) == (0, load_pin(ROOT / "workflows" / "pin.yaml").semester + "\n")
    linted = subprocess.run(
        [sys.executable, "-m", "atelier", "lint"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    modules = len(module_folders([ROOT / "workflows"]))
    assert linted.returncode == 0 and f"module(s) checked: {modules} clean" in linted.stdout, linted.stderr
    named = subprocess.run(
        [sys.executable, "-m", "atelier", "pin", "--get", "semester"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "ATELIER_PROJECT": str(tmp_path)},
    )
    assert named.returncode == 2
    assert named.stderr == (
        f"Error: No Atelier project was found at {tmp_path}: a project is the folder that holds "
        "workflows/pin.yaml. Run atelier from the project's folder, or source the semester's "
        "atelier.env, which names it in ATELIER_PROJECT.\n"
    )
