"""The standalone gate (atelier.tools.gate) in front of a stand-in tool, in CI: the same rules as
ComfyUI's in-process gate, and a proxy that carries what a tool's page needs (streamed answers,
WebSockets, redirects) without passing the gate's cookie on.

The tools tier runs the same checks against the real InvokeAI and Gradio app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from atelier.comfy.extensions.atelier_gate import COOKIE, session_cookie
from atelier.comfy.server import LOGIN
from atelier.tools.gate import gate_app, relative_location

TOKEN = "k" * 43
COOKIES = {"Cookie": f"{COOKIE}={session_cookie(TOKEN)}; tool_pref=dark"}


def _tool() -> web.Application:
    """A stand-in tool: echoes what reached it, streams events, redirects, and speaks WebSocket."""

    async def seen(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {"headers": dict(request.headers), "path": request.path_qs, "method": request.method, "body": body.decode()}
        )

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for number in range(3):
            await response.write(f"data: {number}\n\n".encode())
            await asyncio.sleep(0.05)
        return response

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{request.host}/elsewhere?x=1")  # built from Host, as Gradio's are

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            await ws.send_str(f"echo {message.data}")
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    app.router.add_get("/events", events)
    app.router.add_get("/moved", moved)
    app.router.add_route("*", "/{tail:.*}", seen)
    return app


def _run(check: Callable[[TestClient, str], Awaitable[None]], served: tuple[str, ...] = ()) -> None:
    """The stand-in tool on one port, the gate in front of it on another; `check` talks to the gate."""

    async def main() -> None:
        async with TestServer(_tool()) as tool:
            upstream = f"http://127.0.0.1:{tool.port}"
            async with TestClient(TestServer(gate_app(TOKEN, upstream, "Test tool", served))) as client:
                await check(client, upstream)

    with ThreadPoolExecutor(1) as thread:  # pytest-playwright's loop may hold the main thread
        thread.submit(asyncio.run, main()).result()


def test_nothing_reaches_the_tool_without_the_key() -> None:
    async def check(client: TestClient, _: str) -> None:
        for method, path in [("GET", "/"), ("GET", "/api/v1/app/version"), ("POST", "/upload"), ("DELETE", "/x")]:
            answer = await client.request(method, path)
            assert (answer.status, await answer.text()) == (403, "Forbidden"), path
            assert "Set-Cookie" not in answer.headers
        wrong = await client.post(LOGIN, data={"token": "x" * 43}, allow_redirects=False)
        assert wrong.status == 403 and "Set-Cookie" not in wrong.headers
        socket = await client.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        assert socket.status == 403

    _run(check)


def test_the_login_page_names_the_tool_and_the_key_sets_a_strict_cookie() -> None:
    async def check(client: TestClient, _: str) -> None:
        page = await client.get(LOGIN)
        assert "Open your Test tool session" in await page.text()
        answer = await client.post(LOGIN, data={"token": TOKEN, "base": "/rnode/gpu042/8188/"}, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "../"
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/rnode/gpu042/8188/" in cookie
        assert TOKEN not in cookie

    _run(check)


def test_a_logged_in_request_reaches_the_tool_without_the_gates_cookie() -> None:
    async def check(client: TestClient, _: str) -> None:
        answer = await client.post("/api/queue?x=1", data=b"a picture", headers=COOKIES)
        seen = await answer.json()
        assert answer.status == 200 and seen["path"] == "/api/queue?x=1" and seen["body"] == "a picture"
        # sized as the browser sized it: engine.io reads a chunked body as empty
        assert seen["headers"]["Content-Length"] == "9" and "Transfer-Encoding" not in seen["headers"]
        assert seen["headers"]["Accept-Encoding"] == "identity"  # InvokeAI's socket.io fails a compressed poll
        assert seen["headers"]["Cookie"] == "tool_pref=dark"  # the tool's own cookies pass, the gate's never
        assert seen["headers"]["Host"] == f"{client.host}:{client.port}"  # the address asked, for its links
        assert COOKIE not in json.dumps(seen)

    _run(check)


def test_another_sites_page_is_refused_and_the_proxys_own_passes() -> None:
    async def check(client: TestClient, _: str) -> None:
        proxied = {"X-Forwarded-Host": "ondemand.example.edu", **COOKIES}
        own = await client.post("/api/queue", headers={**proxied, "Origin": "https://ondemand.example.edu"})
        assert own.status == 200 and "Origin" not in (await own.json())["headers"]
        foreign = await client.post("/api/queue", headers={**proxied, "Origin": "https://elsewhere.example"})
        assert (foreign.status, await foreign.text()) == (403, "Forbidden")
        null = await client.post("/api/queue", headers={**proxied, "Origin": "null"})
        assert null.status == 403

    _run(check)


def test_streamed_answers_websockets_and_redirects_pass_through() -> None:
    async def check(client: TestClient, upstream: str) -> None:
        events = await client.get("/events", headers=COOKIES)
        assert events.headers["Content-Type"] == "text/event-stream"
        assert "default-src 'self'" in events.headers["Content-Security-Policy"]  # nothing from outside
        assert await events.text() == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        moved = await client.get("/moved", headers=COOKIES, allow_redirects=False)
        assert moved.status == 302 and moved.headers["Location"] == "/elsewhere?x=1"
        async with client.ws_connect("/ws", headers=COOKIES) as ws:
            await ws.send_str("hello")
            message = await ws.receive()
            assert message.type == WSMsgType.TEXT and message.data == "echo hello"

    _run(check)


def test_only_the_tools_own_addresses_are_made_relative() -> None:
    origins = ["http://127.0.0.1:9000", "https://gpu042:8188"]
    assert relative_location("http://127.0.0.1:9000/a?b=1", origins) == "/a?b=1"
    assert relative_location("http://127.0.0.1:9000", origins) == "/"
    assert relative_location("https://gpu042:8188/x", origins) == "/x"
    assert relative_location("http://127.0.0.1:90001/x", origins) == "http://127.0.0.1:90001/x"
    assert relative_location("https://elsewhere.example/x", origins) == "https://elsewhere.example/x"
    assert relative_location("../", origins) == "../"


def test_files_the_tool_sends_back_are_sandboxed() -> None:
    async def check(client: TestClient, _: str) -> None:
        served = await client.get("/files/upload.svg", headers=COOKIES)
        assert "sandbox" in served.headers.getall("Content-Security-Policy")
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        page = await client.get("/", headers=COOKIES)
        assert "sandbox" not in page.headers.getall("Content-Security-Policy")  # its own page runs as usual

    _run(check, served=("/files/",))
