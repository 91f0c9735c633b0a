"""A session whose outputs folder is full, in a real ComfyUI: the student reads what to do, in the page.

The outputs folder is a 256 KB tmpfs filled to the brim (tests/fulldisk.py; root only). A tiny
workflow (an empty 64×64 picture into Save Image) fails to save; the WebSocket, `atelier run`'s
path and the page in Chromium must each say it in the message catalogue's plain sentence.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from atelier.comfy.extensions import atelier_space as space
from atelier.comfy.headless import Job, execute
from atelier.comfy.server import ComfyServer
from atelier.lessons.nodes import load_node_list
from atelier.messages import AtelierError
from tests.comfyui.test_compare_page import cookie, log_in
from tests.comfyui.test_gate import request
from tests.comfyui_env import comfyui_from_env
from tests.fulldisk import fill, small_disk
from tests.walkthrough import wait_for_comfyui

ROOT = Path(__file__).resolve().parents[2]
PROMPT = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
        "_meta": {"title": "Blank"},
    },
    "7": {
        "class_type": "SaveImage",
        "inputs": {"images": ["1", 0], "filename_prefix": "atelier/full"},
        "_meta": {"title": "Save Image"},
    },
}
FULL = str(AtelierError("folder-full", node="7", title="Save Image"))


@pytest.fixture(scope="module")
def full_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    checkout, python = comfyui_from_env()
    root = tmp_path_factory.mktemp("full-outputs")
    with small_disk(root / "outputs") as outputs:
        fill(outputs)
        with ComfyServer(checkout, python, root / "session", cpu=True, outputs=outputs) as server:
            yield server


def low(server: ComfyServer) -> str:
    return str(AtelierError("folder-low", free="0 bytes", folder=server.output_dir))


def notices_of_one_run(server: ComfyServer, seconds: float = 120) -> tuple[list[str], list[dict]]:
    """Queue the tiny workflow as the page does; ComfyUI's message types in order, and the notices."""
    client = server.client()
    kinds, notices = [], []
    with client.events() as events:
        client.submit(PROMPT)
        deadline = time.monotonic() + seconds
        for kind, data in events:
            assert time.monotonic() < deadline, f"no notice of the failed save; ComfyUI sent {kinds}"
            if kind in ("idle", "status", "closed"):
                assert kind != "closed", kinds
                continue
            kinds.append(kind)
            if kind == space.EVENT:
                notices.append(data)
                if data["severity"] == "error":
                    return kinds, notices


def test_a_save_into_a_full_outputs_folder_says_what_to_do_on_the_websocket(full_session: ComfyServer) -> None:
    kinds, notices = notices_of_one_run(full_session)
    assert kinds.index("execution_error") == len(kinds) - 2  # ComfyUI's own error, then the plain sentence
    assert notices[-1] == {"severity": "error", "text": FULL}
    assert {"severity": "warn", "text": low(full_session)} in notices  # said as the run started
    assert kinds.index(space.EVENT) < kinds.index("execution_error")
    assert FULL in full_session.log.read_text(encoding="utf-8")  # and in the session's log
    status, body, _ = request(f"{full_session.url}/api/atelier/space", headers=cookie(full_session))
    assert status == 200  # what the page asks when it opens
    assert {"severity": "warn", "text": low(full_session)} in json.loads(body)["notices"]


def test_atelier_run_says_the_same_sentence(full_session: ComfyServer, tmp_path: Path) -> None:
    node_list = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")
    with pytest.raises(AtelierError) as raised:
        execute(full_session.client(), Job(tmp_path / "tiny.json", {}, PROMPT), tmp_path, node_list, timeout=120)
    assert raised.value.code == "folder-full" and str(raised.value) == FULL


def test_the_student_sees_both_notices_as_toasts_in_the_page(full_session: ComfyServer, page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, full_session.url, full_session.token)
    wait_for_comfyui(page)
    expect(page.get_by_text(low(full_session), exact=True)).to_be_visible(timeout=30_000)  # on opening
    page.evaluate("async (prompt) => { await window.app.api.queuePrompt(0, {output: prompt, workflow: {}}); }", PROMPT)
    expect(page.get_by_text(FULL, exact=True)).to_be_visible(timeout=120_000)
    expect(page.get_by_text("Not saved: the folder is full", exact=True)).to_be_visible()
