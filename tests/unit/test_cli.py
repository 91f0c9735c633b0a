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
from atelier.lessons.pin import load_lock

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
    result = run("lock", "--lock", "old/lock.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "Error: The semester pin old/lock.yaml was not found. "
        "Check the path given with --lock; without it, atelier reads the project's workflows/lock.yaml.\n"
    )


def test_debug_adds_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "lock", "--lock", "old/lock.yaml", cwd=tmp_path)
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


def test_atelier_finds_its_project_from_another_folder(tmp_path: Path) -> None:
    """A maintainer on a login node, or the nightly job, is not in the checkout."""
    env = {k: v for k, v in os.environ.items() if k != "ATELIER_PROJECT"}
    elsewhere = subprocess.run(
        [sys.executable, "-m", "atelier", "lock", "--get", "semester"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert (elsewhere.returncode, elsewhere.stdout) == (0, load_lock(ROOT / "workflows" / "lock.yaml").semester + "\n")
    linted = subprocess.run(
        [sys.executable, "-m", "atelier", "lint"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    modules = len(module_folders([ROOT / "workflows"]))
    assert linted.returncode == 0 and f"module(s) checked: {modules} clean" in linted.stdout, linted.stderr
    named = subprocess.run(
        [sys.executable, "-m", "atelier", "lock", "--get", "semester"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "ATELIER_PROJECT": str(tmp_path)},
    )
    assert named.returncode == 2
    assert named.stderr == (
        f"Error: No Atelier project was found at {tmp_path}: a project is the folder that holds "
        "workflows/lock.yaml. Run atelier from the project's folder, or source the semester's "
        "atelier.env, which names it in ATELIER_PROJECT.\n"
    )
