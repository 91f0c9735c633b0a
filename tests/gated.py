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


# A picture a student could upload that would run script where the gate's files are shown, if not sandboxed.
TRAP_SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>fetch("/rnode/other/1/queue")</script></svg>'


def multipart(field: str, filename: str, data: bytes, content_type: str) -> tuple[bytes, str]:
    """(body, Content-Type) of a form upload of one file, as a browser sends it."""
    boundary = "atelier-test-boundary"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
    body = f"{head}Content-Type: {content_type}\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
