"""The student's own ComfyUI folder with a real ComfyUI: kept between sessions, safe with two at once.

Each session is `atelier serve` as a job runs it, and saves go through ComfyUI's own
routes (the ones its Workflows panel and settings dialog use), so what is checked is
what the student's next session shows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

from atelier.comfy.client import ComfyClient
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")


class Session:
    """One `atelier serve --user-folder`, and the requests ComfyUI's page would make."""

    def __init__(self, tmp_path: Path, name: str, user_folder: Path, *more: str) -> None:
        checkout, python = comfyui_from_env()
        self.workdir, self.node = tmp_path / name, tmp_path / f"{name}-node"
        self.process = subprocess.Popen(
            [
                ATELIER,
                "serve",
                "--cpu",
                "--comfyui",
                str(checkout),
                "--python",
                str(python),
                "--workdir",
                str(self.workdir),
                "--user-folder",
                str(user_folder),
                "--local-dir",
                str(self.node),
                "--module",
                "txt2img-basics",
                *more,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ.copy(),
        )
        self.lines: list[str] = []
        while not any(" is ready at " in line for line in self.lines):
            line = self.process.stdout.readline()
            assert line, "".join(self.lines)
            self.lines.append(line)
        url = self.lines[-1].split(" at ")[1].split(" ")[0]
        self.client = ComfyClient(url, token=(self.workdir / "gate" / "token").read_text())

    def save(self, name: str, body: dict) -> None:
        """File > Save: the page posts the workflow to userdata/workflows%2F<name>."""
        path = urllib.parse.quote(f"workflows/{name}", safe="")
        request = urllib.request.Request(
            f"{self.client.base_url}/api/userdata/{path}?overwrite=true&full_info=true",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with self.client._open(request) as answer:
            assert answer.status == 200

    def setting(self, key: str, value: object) -> None:
        self.client.post_json(f"/api/settings/{urllib.parse.quote(key)}", value)

    def workflows(self) -> list[str]:
        """What the Workflows panel lists."""
        return sorted(self.client.get_json("/api/userdata?dir=workflows&recurse=true&split=false&full_info=false"))

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)  # as Slurm ends a session
        rest, _ = self.process.communicate(timeout=90)
        return "".join(self.lines) + rest


def test_what_one_session_saves_is_in_the_next(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "atelier-comfyui"
    first = Session(tmp_path, "first", folder)
    first.save("still life.json", {"nodes": [], "note": "mine"})
    first.setting("Comfy.ColorPalette", "light")
    assert list((first.node).glob("atelier-comfyui-*/user/comfyui.db")), "ComfyUI's database is on the node's disk"
    log = first.stop()
    assert "ComfyUI stopped." in log
    assert not list(first.node.iterdir()), "the session's copy is removed once it is kept"
    assert not list(folder.rglob("comfyui.db*"))
    second = Session(tmp_path, "second", folder)
    try:
        assert second.workflows() == ["Your first image.json", "still life.json"]
        assert second.client.get_json("/api/settings/Comfy.ColorPalette") == "light"
        assert "(1 saved file" not in "".join(second.lines) and "2 saved files" in "".join(second.lines)
    finally:
        second.stop()


def test_two_sessions_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "home" / "atelier-comfyui"
    sessions = {name: Session(tmp_path, name, folder) for name in ("a", "b")}
    count = 15

    def work(name: str) -> None:
        for n in range(count):
            sessions[name].save(f"{name}-{n}.json", {"by": name, "n": n, "pad": "x" * 50_000})
            sessions[name].save("class crit.json", {"by": name, "n": n})
            sessions[name].setting(f"Atelier.Test.{name}", n)

    threads = [threading.Thread(target=work, args=(name,)) for name in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    logs = {name: session.stop() for name, session in sessions.items()}
    saved = folder / "user" / "default" / "workflows"
    for name in sessions:
        for n in range(count):
            assert json.loads((saved / f"{name}-{n}.json").read_text())["n"] == n, logs[name]
    versions = [json.loads(p.read_text()) for p in saved.glob("class crit*.json")]
    assert {"by": "a", "n": count - 1} in versions and {"by": "b", "n": count - 1} in versions, logs
    assert any("changed in another session" in log for log in logs.values())
    settings = json.loads((folder / "user" / "default" / "comfy.settings.json").read_text())
    assert settings["Atelier.Test.a"] == settings["Atelier.Test.b"] == count - 1
    third = Session(tmp_path, "third", folder)
    try:
        listed = third.workflows()
        assert {f"{name}-{n}.json" for name in sessions for n in range(count)} <= set(listed)
        assert "class crit.json" in listed and len([w for w in listed if w.startswith("class crit")]) >= 2
    finally:
        third.stop()


def test_the_session_backs_up_saved_workflows_beside_the_outputs(tmp_path: Path, webdav) -> None:
    folder = tmp_path / "home" / "atelier-comfyui"
    session = Session(
        tmp_path,
        "backed",
        folder,
        "--backup-to",
        "test:Atelier",
        "--backup-every",
        "60",
        "--outputs",
        str(tmp_path / "outputs"),
    )
    (tmp_path / "outputs" / "atelier").mkdir(parents=True)
    (tmp_path / "outputs" / "atelier" / "notes.txt").write_text("made in the session")
    session.save("for the crit.json", {"nodes": [], "note": "keep me"})
    session.setting("Comfy.ColorPalette", "light")
    log = session.stop()
    assert "Saved workflows and settings: 2 new or changed files to test:Atelier/comfyui" in log, log
    remote = webdav.root / "Atelier"
    kept = remote / "comfyui" / "user" / "default"
    assert json.loads((kept / "workflows" / "for the crit.json").read_text())["note"] == "keep me"
    assert json.loads((kept / "comfy.settings.json").read_text())["Comfy.ColorPalette"] == "light"
    assert not (kept / "workflows" / "Your first image.json").exists()  # the lesson as offered is not theirs
    assert (remote / "outputs" / "atelier" / "notes.txt").read_text() == "made in the session"
    assert not list(remote.rglob("comfyui.db*")) and not list(remote.rglob(".sync-lock"))
