"""The login gate (atelier_gate's middleware) in front of a few stand-in routes, without ComfyUI."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler, Middleware


def serve_gated(gate: Middleware, routes: dict[str, Handler], check: Callable[[TestClient], Awaitable[None]]) -> None:
    """Serve each GET route behind `gate` and run `check` against them, in a thread of its own: after the
    browser tests, pytest-playwright's event loop holds the main thread."""

    async def main() -> None:
        app = web.Application(middlewares=[gate])
        for path, handler in routes.items():
            app.router.add_get(path, handler)
        async with TestClient(TestServer(app)) as client:
            await check(client)

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, main()).result()
