"""The login gate in front of a real ComfyUI: nothing without this session's key."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websocket
from playwright.sync_api import Page

from atelier.comfy.extensions.atelier_gate import COOKIE, session_cookie
from atelier.comfy.server import LOGIN, ComfyServer
from tests.comfyui_env import comfyui_from_env
from tests.gated import TRAP_SVG, multipart

ROOT = Path(__file__).resolve().parents[2]
ROUTES = [
    ("GET", "/"),
    ("GET", "/index.html"),
    ("GET", "/prompt"),
    ("GET", "/queue"),
    ("GET", "/history"),
    ("GET", "/object_info"),
    ("GET", "/system_stats"),
    ("GET", "/view?filename=a.png&type=output"),
    ("GET", "/api/system_stats"),
    ("GET", "/api/history"),
    ("GET", "/api/userdata?dir=workflows"),
    ("GET", "/extensions"),
    ("GET", "/embeddings"),
    ("GET", "/internal/logs"),
    ("GET", "/no/such/route"),
    ("POST", "/prompt"),
    ("POST", "/api/prompt"),
    ("POST", "/upload/image"),
    ("POST", "/interrupt"),
    ("POST", "/free"),
    ("DELETE", "/api/userdata/x.json"),
    ("GET", "/atelier/logout"),
]


def request(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    """(status, body, headers) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def login(url: str, token: str, base: str = "/", headers: dict | None = None):
    body = urllib.parse.urlencode({"token": token, "base": base}).encode()
    return request(
        f"{url}{LOGIN}", "POST", body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_is_refused_without_the_key(comfy, method: str, path: str) -> None:
    data = b"{}" if method == "POST" else None
    status, body, headers = request(comfy.url + path, method, data)
    assert (status, body) == (403, b"Forbidden")
    assert "Set-Cookie" not in headers


def test_the_websocket_is_refused_without_the_key(comfy) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(comfy.url.replace("http", "ws") + "/ws?clientId=x", timeout=5)
    assert refused.value.status_code == 403
    good = websocket.create_connection(
        comfy.url.replace("http", "ws") + "/ws?clientId=x",
        timeout=5,
        header={"Cookie": f"{COOKIE}={session_cookie(comfy.token)}"},
    )
    assert json.loads(good.recv())["type"] == "status"
    good.close()


def test_a_wrong_key_gets_403_and_no_cookie(comfy) -> None:
    status, body, headers = login(comfy.url, comfy.token[:-1] + ("A" if comfy.token[-1] != "A" else "B"))
    assert (status, body) == (403, b"Forbidden")
    assert "Set-Cookie" not in headers


def test_the_right_key_sets_a_strict_httponly_cookie(comfy) -> None:
    status, _, headers = login(comfy.url, comfy.token, base="/rnode/node042/8188/")
    # Relative: OOD's proxy prefixes any Location starting with "/" a second time.
    assert status == 303 and headers["Location"] == "../"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}={session_cookie(comfy.token)};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/rnode/node042/8188/" in cookie
    assert "Secure" not in cookie and comfy.token not in cookie
    _, _, https = login(comfy.url, comfy.token, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in https["Set-Cookie"]
    status, body, _ = request(comfy.url + "/system_stats", headers={"Cookie": cookie.split(";")[0]})
    assert status == 200 and json.loads(body)["system"]["comfyui_version"]


def test_the_page_loads_through_a_proxy_whose_origin_differs_from_the_nodes_name(comfy) -> None:
    """Through OOD's proxy Host is the node's name and Origin the dashboard's: ComfyUI's own
    check refuses that when the name is a loopback address, unless the gate vouches first."""
    cookie = f"{COOKIE}={session_cookie(comfy.token)}"
    port = comfy.url.rsplit(":", 1)[1]
    proxied = {
        "Host": f"localhost:{port}",
        "Origin": "https://ondemand.example.edu",
        "X-Forwarded-Host": "ondemand.example.edu",
    }  # what Apache's proxy adds
    for path in ("/", "/api/system_stats"):
        status, _, _ = request(comfy.url + path, headers={**proxied, "Cookie": cookie})
        assert status == 200, path
        status, body, _ = request(comfy.url + path, headers=proxied)
        assert (status, body) == (403, b"Forbidden"), path  # no cookie: the gate refuses first
        status, body, _ = request(
            comfy.url + path, headers={**proxied, "Cookie": cookie, "Origin": "https://elsewhere.example"}
        )
        assert (status, body) == (403, b""), path  # another site's page: ComfyUI's own check still refuses it
    socket = websocket.create_connection(
        comfy.url.replace("http", "ws") + "/ws?clientId=y",
        timeout=5,
        header={"Cookie": cookie, "X-Forwarded-Host": "ondemand.example.edu"},
        origin="https://ondemand.example.edu",
        host=f"localhost:{port}",
    )
    assert json.loads(socket.recv())["type"] == "status"
    socket.close()


def test_served_files_cannot_run_script_in_the_dashboards_origin(comfy) -> None:
    """All sessions share the dashboard's origin: an uploaded SVG must not run there."""
    cookie = f"{COOKIE}={session_cookie(comfy.token)}"
    svg = TRAP_SVG
    body, form = multipart("image", "trap.svg", svg, "image/svg+xml")
    status, _, _ = request(comfy.url + "/upload/image", "POST", body, {"Cookie": cookie, "Content-Type": form})
    assert status == 200
    for path in ("/view", "/api/view"):
        status, served, headers = request(f"{comfy.url}{path}?filename=trap.svg&type=input", headers={"Cookie": cookie})
        assert status == 200 and served == svg
        assert headers["Content-Security-Policy"] == "sandbox"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_key_never_reaches_a_log(comfy) -> None:
    login(comfy.url, comfy.token)
    assert comfy.token not in comfy.log.read_text()
    assert comfy.token not in " ".join(comfy.command())


def test_one_sessions_key_does_not_open_another(comfy, tmp_path: Path) -> None:
    checkout, python = comfyui_from_env()
    with ComfyServer(checkout, python, tmp_path, cpu=True) as other:
        assert other.token != comfy.token and len(other.token) >= 43  # 256 bits, URL-safe base64
        status, _, _ = request(
            other.url + "/system_stats", headers={"Cookie": f"{COOKIE}={session_cookie(comfy.token)}"}
        )
        assert status == 403
        assert login(other.url, comfy.token)[0] == 403


def test_the_gate_fails_closed_without_a_key(tmp_path: Path) -> None:
    checkout, python = comfyui_from_env()
    server = ComfyServer(checkout, python, tmp_path, cpu=True)
    server._prepare()
    server.port = 18000 + os.getpid() % 1000
    env = {**os.environ, "ATELIER_GATE_TOKEN_FILE": str(tmp_path / "missing")}
    process = subprocess.Popen(
        [*server.command()],
        cwd=checkout,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status = None
        for _ in range(120):
            status, _, _ = (
                request(f"http://127.0.0.1:{server.port}/system_stats") if _port_open(server.port) else (None, b"", {})
            )
            if status:
                break
            time.sleep(0.5)
        assert status == 403
        assert login(f"http://127.0.0.1:{server.port}", "anything-at-all-long-enough")[0] == 403
    finally:
        os.killpg(process.pid, 9)
        process.wait()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_a_student_logs_in_loads_a_module_and_sees_the_image(comfy_models, page: Page) -> None:
    page.goto(f"{comfy_models.url}{LOGIN}")
    page.fill("#token", comfy_models.token)
    page.click("button[type=submit]")
    page.wait_for_function("window.app && window.app.graph", timeout=60_000)
    workflow = json.loads((ROOT / "workflows" / "txt2img-basics" / "workflow.json").read_text())
    page.evaluate("async (w) => { await window.app.loadGraphData(w); }", workflow)
    page.evaluate("window.app.graph.getNodeById(5).widgets.find(w => w.name === 'steps').value = 2")
    page.evaluate("window.app.queuePrompt(0, 1)")
    # The Save Image node shows the picture once ComfyUI reports it (drawn on the canvas).
    page.wait_for_function("(window.app.graph.getNodeById(7).imgs || []).length > 0", timeout=180_000)
    src = page.evaluate("window.app.graph.getNodeById(7).imgs[0].src")
    assert "/view?filename=atelier%2Ftxt2img" in src or "filename=txt2img" in src or "txt2img" in src
    fetched = page.evaluate(
        "async (src) => { const r = await fetch(src); return [r.status, r.headers.get('content-type')]; }", src
    )
    assert fetched == [200, "image/png"]
