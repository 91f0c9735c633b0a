"""A bug's traceback is kept in a file of its own, which the one-line message names (issue 25)."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import pytest

from atelier import __version__, runlog
from atelier.cli import main
from atelier.comfy.server import ComfyServer


def _broken(*args: object, **kwargs: object) -> None:
    raise RuntimeError("the GPU fell off the bus")


def _serve_a_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """`atelier serve` with a real (empty) checkout, failing where it builds the server; what it printed."""
    checkout = tmp_path / "ComfyUI"
    checkout.mkdir()
    (checkout / "main.py").write_text("")
    monkeypatch.setattr(ComfyServer, "__init__", _broken)
    args = ["serve", "--comfyui", str(checkout), "--python", sys.executable, "--workdir", str(tmp_path / "session")]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def _named(err: str) -> Path:
    """The file the one line names, checked against the rest of the line."""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    head = "Error: Something went wrong inside atelier (RuntimeError). The details are in "
    tail = "; send that file to your course's support contact.\n"
    assert err.startswith(head) and err.endswith(tail), err
    return Path(err.removeprefix(head).removesuffix(tail))


def test_a_bug_in_serve_leaves_its_traceback_in_a_private_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(runlog.VARIABLE, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    log = _named(_serve_a_bug(tmp_path, monkeypatch, capsys))
    folder = tmp_path / "state" / "atelier" / "log"
    assert log.parent == folder and log.match(runlog.PATTERN)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert log.stat().st_mode & 0o777 == 0o600
    text = log.read_text()
    assert text.startswith("atelier stopped because of an error of its own: RuntimeError: the GPU fell off the bus\n")
    assert f"command: atelier serve --comfyui {tmp_path / 'ComfyUI'} --python {sys.executable}" in text
    assert f"atelier: {__version__}\n" in text and "time: " in text
    assert "Traceback (most recent call last)" in text and "in _broken" in text
    assert text.rstrip().endswith("RuntimeError: the GPU fell off the bus")


def test_without_xdg_state_home_the_folder_is_in_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert runlog.log_folder({}, home) == home / ".local" / "state" / "atelier" / "log"
    assert runlog.log_folder({"XDG_STATE_HOME": "relative"}, home) == home / ".local" / "state" / "atelier" / "log"
    assert runlog.log_folder({"XDG_STATE_HOME": "/s", runlog.VARIABLE: str(tmp_path)}, home) == tmp_path


def test_debug_shows_the_traceback_and_still_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(runlog.VARIABLE, str(tmp_path / "logs"))
    (tmp_path / "main.py").write_text("")
    monkeypatch.setattr(ComfyServer, "__init__", _broken)
    with pytest.raises(SystemExit):
        main(["--debug", "serve", "--comfyui", str(tmp_path), "--python", sys.executable])
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    log = _named(err.splitlines(keepends=True)[-1])
    assert log.parent == tmp_path / "logs" and "in _broken" in log.read_text()


def test_a_message_of_ours_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An AtelierError says all there is to say; its traceback is for --debug."""
    monkeypatch.setenv(runlog.VARIABLE, str(tmp_path / "logs"))
    with pytest.raises(SystemExit):
        main(["serve", "--comfyui", str(tmp_path / "nothing"), "--python", sys.executable])
    assert capsys.readouterr().err.startswith("Error: No ComfyUI was found at ")
    assert not (tmp_path / "logs").exists()


def test_when_no_file_can_be_written_the_message_asks_for_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv(runlog.VARIABLE, str(blocked))
    err = _serve_a_bug(tmp_path, monkeypatch, capsys)
    assert err == (
        "Error: Something went wrong inside atelier (RuntimeError). Run the same command again "
        "with --debug and send what it prints to your course's support contact.\n"
    )


def test_old_records_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    now = datetime.now().astimezone()
    day = 24 * 3600
    stale = tmp_path / "atelier-2020-01-01_00-00-00-1.log"
    stale.write_text("old")
    os.utime(stale, (now.timestamp() - 31 * day,) * 2)
    recent = []
    for n in range(runlog.KEEP + 3):
        path = tmp_path / f"atelier-2026-11-01_00-00-{n:02d}-1.log"
        path.write_text("recent")
        os.utime(path, (now.timestamp() - day + n,) * 2)
        recent.append(path)
    tmp_path.chmod(0o755)  # a session's folder, made by OOD: it keeps its mode
    others = [tmp_path / "output.log", tmp_path / "comfyui.log"]
    for path in others:
        path.write_text("not ours")
        os.utime(path, (now.timestamp() - 90 * day,) * 2)
    try:
        raise ValueError("one more")
    except ValueError as err:
        new = runlog.record(tmp_path, err, {"command": "atelier pin"}, now)
    kept = sorted(tmp_path.glob(runlog.PATTERN))
    assert new in kept and len(kept) == runlog.KEEP
    assert not stale.exists()
    assert set(kept) == {new, *recent[-(runlog.KEEP - 1) :]}  # the newest, by when they were written
    assert all(path.read_text() == "not ours" for path in others)
    assert tmp_path.stat().st_mode & 0o777 == 0o755


def test_a_new_file_for_each_failure(tmp_path: Path) -> None:
    now = datetime.now().astimezone()
    written = []
    for _ in range(2):  # the same second, the same process
        try:
            raise KeyError("x")
        except KeyError as err:
            written.append(runlog.record(tmp_path, err, {}, now))
    assert len(set(written)) == 2 and all(path.match(runlog.PATTERN) for path in written)
    assert "KeyError: 'x'" in written[1].read_text()
