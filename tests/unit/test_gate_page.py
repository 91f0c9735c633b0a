"""The gate writes prefix.js into ComfyUI's page, first, so the tab's icon stays under the proxy's prefix.

ComfyUI's frontend sets the icon to a path from the site's root before any extension
loads; through Open OnDemand's /rnode/<node>/<port>/ that asks the dashboard, not the
session. Only a script that runs before the frontend's can keep it under the prefix; the
ood tier (tests/ood/test_modalities.py) watches every request a real page makes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from atelier.comfy.extensions.atelier_gate import COOKIE, PREFIX_SCRIPT, make_gate, session_cookie
from tests.gated import serve_gated

TOKEN = "t" * 43
PAGE = (
    '<!doctype html><html><head><title>ComfyUI</title><script type="importmap">{}</script>'
    '<script type="module" src="./assets/index.js"></script></head><body></body></html>'
)


def _serve(index: Path, check: Callable[[TestClient], Awaitable[None]]) -> None:
    """The gate in front of routes answering as ComfyUI's do."""

    async def root(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(index)
        response.headers["Cache-Control"] = "no-cache"
        return response

    serve_gated(make_gate(TOKEN, index), {"/": root, "/assets/index.js": root}, check)


def test_the_page_runs_prefix_js_before_the_frontend(tmp_path: Path) -> None:
    index = tmp_path / "index.html"
    index.write_text(PAGE)

    async def check(client: TestClient) -> None:
        cookie = {"Cookie": f"{COOKIE}={session_cookie(TOKEN)}"}
        page = await client.get("/", headers=cookie)
        html = await page.text()
        assert page.status == 200 and page.headers["Cache-Control"] == "no-cache"
        assert html.index(PREFIX_SCRIPT.read_text()) < html.index('<script type="importmap">')
        assert html.count("<script") == 3 and html.replace(f"<script>{PREFIX_SCRIPT.read_text()}</script>", "") == PAGE
        other = await client.get("/assets/index.js", headers=cookie)  # other files are served as they are
        assert await other.text() == PAGE
        refused = await client.get("/")  # and the page, like every route, needs the login
        assert (refused.status, await refused.text()) == (403, "Forbidden")

    _serve(index, check)
