"""Every rule of the login gate, held against each tool beside ComfyUI as `atelier serve --tool` runs it.

tests/comfyui/test_gate.py holds the same rules against ComfyUI's in-process gate; both are
the one middleware of comfy/extensions/atelier_gate.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websocket

from atelier.comfy.extensions.atelier_gate import COOKIE, session_cookie
from tests.comfyui.test_gate import login, request
from tests.gated import TRAP_SVG, multipart
from tests.tools.conftest import TOOLS, start_session

# The first test here installs both tools from the package index (the session's fixture): minutes.
pytestmark = pytest.mark.timeout(1800)

# What each tool serves: its page, its API, uploads; the gate must refuse every one without the key.
ROUTES = {
    "invokeai": [
        ("GET", "/"),
        ("GET", "/api/v1/app/version"),
        ("GET", "/api/v2/models/"),
        ("GET", "/api/v1/images/?limit=10"),
        ("POST", "/api/v1/queue/default/enqueue_batch"),
        ("POST", "/api/v1/images/upload?image_category=user&is_intermediate=false"),
        ("DELETE", "/api/v1/images/i/x.png"),
        ("GET", "/ws/socket.io/?EIO=4&transport=polling"),
        ("GET", "/docs"),
    ],
    "rembg": [
        ("GET", "/"),
        ("GET", "/gradio_api/info"),
        ("GET", "/config"),
        ("POST", "/gradio_api/queue/join"),
        ("POST", "/gradio_api/upload"),
        ("POST", "/api/remove"),
        ("GET", "/api/remove?url=http://example.org/a.png"),  # it would fetch any address for a stranger
        ("GET", "/docs"),
    ],
}
WEBSOCKET = {"invokeai": "/ws/socket.io/?EIO=4&transport=websocket", "rembg": "/gradio_api/queue/join"}


@pytest.mark.parametrize("tool", TOOLS)
def test_nothing_reaches_the_tool_without_the_key(sessions, tool: str) -> None:
    session = sessions(tool)
    for method, path in ROUTES[tool]:
        status, body, headers = request(session.url + path, method, b"{}" if method == "POST" else None)
        assert (status, body) == (403, b"Forbidden"), path
        assert "Set-Cookie" not in headers


@pytest.mark.parametrize("tool", TOOLS)
def test_the_websocket_is_refused_without_the_key(sessions, tool: str) -> None:
    session = sessions(tool)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(session.url.replace("http", "ws") + WEBSOCKET[tool], timeout=5)
    assert refused.value.status_code == 403
    if tool == "invokeai":  # its page's socket.io: with the cookie, the tool answers through the gate
        good = websocket.create_connection(
            session.url.replace("http", "ws") + WEBSOCKET[tool],
            timeout=10,
            header={"Cookie": f"{COOKIE}={session_cookie(session.token)}"},
        )
        assert good.recv().startswith("0")  # engine.io's open packet
        good.close()


@pytest.mark.parametrize("tool", TOOLS)
def test_a_wrong_key_is_refused_and_the_right_one_sets_a_strict_cookie(sessions, tool: str) -> None:
    session = sessions(tool)
    status, body, headers = login(session.url, session.token[:-1] + ("A" if session.token[-1] != "A" else "B"))
    assert (status, body) == (403, b"Forbidden") and "Set-Cookie" not in headers
    status, _, headers = login(session.url, session.token, base="/rnode/node042/8188/")
    assert status == 303 and headers["Location"] == "../"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={session_cookie(session.token)};") and session.token not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/rnode/node042/8188/" in cookie
    status, _, _ = request(session.url + ROUTES[tool][1][1], headers={"Cookie": cookie.split(";")[0]})
    assert status == 200


@pytest.mark.parametrize("tool", TOOLS)
def test_another_sites_page_is_refused_and_the_proxys_own_passes(sessions, tool: str) -> None:
    session = sessions(tool)
    cookie = {"Cookie": f"{COOKIE}={session_cookie(session.token)}"}
    proxied = {"Host": f"gpu042.example.edu:{session.connection['port']}", "X-Forwarded-Host": "ondemand.example.edu"}
    path = ROUTES[tool][1][1]
    own = request(session.url + path, headers={**proxied, **cookie, "Origin": "https://ondemand.example.edu"})
    assert own[0] == 200
    foreign = request(session.url + path, headers={**proxied, **cookie, "Origin": "https://elsewhere.example"})
    assert foreign[:2] == (403, b"Forbidden")


@pytest.mark.parametrize("tool", TOOLS)
def test_a_second_session_refuses_the_first_ones_cookie_and_key(
    sessions, tool: str, tool_store: Path, tool_env: dict, tmp_path: Path
) -> None:
    first = sessions(tool)
    second = start_session(tool, tmp_path / "second", tool_store, tool_env)
    try:
        assert second.token != first.token and len(second.token) >= 43
        cookie = {"Cookie": f"{COOKIE}={session_cookie(first.token)}"}
        assert request(second.url + ROUTES[tool][1][1], headers=cookie)[:2] == (403, b"Forbidden")
        assert login(second.url, first.token)[0] == 403
    finally:
        second.stop()


@pytest.mark.parametrize("tool", TOOLS)
def test_the_tool_answers_only_on_127_0_0_1_and_the_gate_on_every_address(sessions, tool: str) -> None:
    """From another address of this machine (127.0.0.2, as from another host): the tool's own port is
    refused, and only the gate answers, with 403."""
    session = sessions(tool)
    with socket.socket() as probe:
        probe.settimeout(5)
        assert probe.connect_ex(("127.0.0.2", session.tool_port)) != 0
    gate = f"http://127.0.0.2:{session.connection['port']}"
    assert request(gate + ROUTES[tool][1][1])[:2] == (403, b"Forbidden")
    assert request(f"http://127.0.0.1:{session.tool_port}{ROUTES[tool][1][1]}")[0] == 200  # on 127.0.0.1: the gate's


@pytest.mark.parametrize("tool", TOOLS)
def test_the_gate_fails_closed_without_a_key(sessions, tool: str, tmp_path: Path) -> None:
    session = sessions(tool)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gate = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atelier.tools.gate",
            "--upstream",
            f"http://127.0.0.1:{session.tool_port}",
            "--port",
            str(port),
            "--key-file",
            str(tmp_path / "missing"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            status = request(url + "/")[0] if _answers(port) else None
            if status:
                break
            time.sleep(0.1)
        assert status == 403
        assert login(url, "anything-at-all-long-enough-to-be-a-key")[0] == 403
    finally:
        gate.terminate()
        gate.wait()


@pytest.mark.parametrize("tool", TOOLS)
def test_the_key_never_reaches_a_log_or_a_command_line(sessions, tool: str) -> None:
    session = sessions(tool)
    login(session.url, session.token)
    for log in session.workdir.glob("*.log"):
        assert session.token not in log.read_text(encoding="utf-8", errors="replace"), log
    commands = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert session.token not in commands


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


SERVED = {"invokeai": "/api/v1/images/i/none.png/full", "rembg": "/gradio_api/file=/tmp/none.svg"}


@pytest.mark.parametrize("tool", TOOLS)
def test_files_the_tool_sends_back_are_sandboxed(sessions, tool: str) -> None:
    """Every session shares the dashboard's origin: a file a tool sends back opens with no origin and no cookies."""
    session = sessions(tool)
    cookie = {"Cookie": f"{COOKIE}={session_cookie(session.token)}"}
    _, _, headers = request(session.url + SERVED[tool], headers=cookie)
    assert "sandbox" in headers.get_all("Content-Security-Policy") and headers["X-Content-Type-Options"] == "nosniff"


def test_an_uploaded_svg_comes_back_sandboxed(sessions) -> None:
    """The background remover keeps what a student uploads and serves it back as it came: an SVG with a script."""
    session = sessions("rembg")
    cookie = f"{COOKIE}={session_cookie(session.token)}"
    body, form = multipart("files", "trap.svg", TRAP_SVG, "image/svg+xml")
    status, answer, _ = request(
        session.url + "/gradio_api/upload", "POST", body, {"Cookie": cookie, "Content-Type": form}
    )
    assert status == 200, answer
    (path,) = json.loads(answer)
    status, served, headers = request(f"{session.url}/gradio_api/file={path}", headers={"Cookie": cookie})
    assert status == 200 and served == TRAP_SVG
    assert "sandbox" in headers.get_all("Content-Security-Policy")
