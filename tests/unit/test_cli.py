"""The CLI's one error path, driven as a user drives it: the installed command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from atelier import __version__
from atelier.cli import main

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
    assert "lock" in result.stdout


def test_lock_prints_the_pin() -> None:
    result = run("lock")
    assert result.returncode == 0, result.stderr
    assert "Semester pin 2026-fall" in result.stdout
    assert "0.3.64" in result.stdout
    assert run("lock", "--get", "docs-version").stdout == "2026-4-fall\n"
    assert run("lock", "--get", "docs-title").stdout == "Fall 2026\n"


def test_error_is_one_plain_line_and_exit_code(tmp_path: Path) -> None:
    result = run("lock", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: The semester pin workflows/lock.yaml was not found. "
        "Run atelier from the project folder, or pass the file's path with --lock.\n"
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "lock", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: The semester pin")


def test_a_bug_is_reported_plainly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(path: Path) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("atelier.cli.lessons.load_lock", broken)
    with pytest.raises(SystemExit) as exit_:
        main(["lock"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        "Error: Something went wrong inside atelier (ZeroDivisionError). Run the same command again "
        "with --debug and send what it prints to your course's support contact.\n"
    )


def test_usage_error_exits_2() -> None:
    result = run("lock", "--get", "colour")
    assert result.returncode == 2
    assert "Invalid value for '--get'" in result.stderr
    assert "Traceback" not in result.stderr
