"""The login gate as ComfyUI's web server (aiohttp) runs it, without ComfyUI: what a proxy sees.

The comfyui tier runs the same gate inside a real ComfyUI; this holds the parts that
Open OnDemand's proxy depends on in CI too: the redirect after login is relative, the
cookie is scoped and strict, and a logged-in request reaches ComfyUI without the Origin
header that ComfyUI's own check would refuse behind a proxy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.test_utils import TestClient

from atelier.comfy.extensions.atelier_gate import COOKIE, make_gate, session_cookie
from atelier.comfy.server import LOGIN
from tests.gated import serve_gated

TOKEN = "t" * 43


async def _seen(request: web.Request) -> web.Response:
    return web.json_response({"origin": request.headers.get("Origin"), "host": request.headers.get("Host")})


def _run(check: Callable[[TestClient], Awaitable[None]]) -> None:
    """Serve the gate in front of two routes that echo what reached them, and run `check` against it."""
    serve_gated(make_gate(TOKEN), {"/": _seen, "/api/system_stats": _seen}, check)


def test_login_sends_the_browser_back_relatively() -> None:
    """OOD's proxy prefixes a Location that starts with '/': '../' comes out as the session's own path."""

    async def check(client: TestClient) -> None:
        # The proxy hands ComfyUI the path below /rnode/<host>/<port>.
        answer = await client.post(LOGIN, allow_redirects=False, data={"token": TOKEN, "base": "/rnode/gpu042/8188/"})
        assert answer.status == 303 and answer.headers["Location"] == "../"
        cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith(f"{COOKIE}={session_cookie(TOKEN)};")
        assert "Path=/rnode/gpu042/8188/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie

    _run(check)


def test_a_logged_in_request_from_the_proxy_s_origin_reaches_comfyui_without_origin() -> None:
    async def check(client: TestClient) -> None:
        cookie = {"Cookie": f"{COOKIE}={session_cookie(TOKEN)}"}
        # Apache appends the host the browser asked for; a client's own X-Forwarded-Host comes first.
        proxied = {
            "Host": "localhost:8188",
            "Origin": "https://ondemand.example.edu",
            "X-Forwarded-Host": "elsewhere.example, ondemand.example.edu",
        }
        answer = await client.get("/api/system_stats", headers={**proxied, **cookie})
        assert answer.status == 200
        assert await answer.json() == {"origin": None, "host": "localhost:8188"}
        other = await client.get(
            "/api/system_stats", headers={**proxied, **cookie, "Origin": "https://elsewhere.example"}
        )
        assert (await other.json())["origin"] == "https://elsewhere.example"  # left for ComfyUI's own check
        refused = await client.get("/api/system_stats", headers=proxied)
        assert (refused.status, await refused.text()) == (403, "Forbidden")

    _run(check)
