"""The standalone gate: ComfyUI's login gate, as a reverse proxy in front of any other tool.

InvokeAI and Gradio apps have no login either, and the dashboard's proxy lets any
signed-in user reach any port on a node. So a tool listens on 127.0.0.1 only, and this
gate is the one thing the proxy reaches. It applies the very middleware ComfyUI loads
(comfy/extensions/atelier_gate: key by POST, per-session cookie, fail closed, the
proxy's Origin), so there is one implementation of the rules; ComfyUI keeps it inside
its own server, which spares every request a second hop. In front of a tool the gate
also refuses another site's Origin itself, since the tool has no such check, and it
never passes the gate's cookie on.

Requests and answers are streamed both ways (Gradio's queue answers as server-sent
events), WebSockets are carried frame by frame, and an absolute redirect to the tool's
private address is made relative, for the proxy puts its prefix in front of paths.
Run as `python -m atelier.tools.gate`, by `atelier serve --tool`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, WSMsgType, web
from multidict import CIMultiDict

from atelier.comfy.extensions.atelier_gate import COOKIE, _read_token_file, make_gate, protect

# Headers about one connection, never passed on (RFC 9110 7.6.1), and what the proxy recomputes.
HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}
# The tool's page may load nothing from outside the university (Gradio's asks Google for fonts): the
# browser is told to fetch only from the page's own origin, the dashboard's, whatever the tool's page says.
OWN_ORIGIN_ONLY = (
    "default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-src 'self' blob:; worker-src 'self' blob:"
)
CLIENT = web.AppKey("client", ClientSession)  # one connection pool to the tool, for every request
WEBSOCKET_HEADERS = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"}


def _forwarded_headers(request: web.Request) -> dict[str, str]:
    """The request's headers for the tool: no hop headers, and no gate cookie. Host stays the address the
    browser (or the proxy) asked for, since a tool builds its page's addresses from it (Gradio does)."""
    headers = {
        k: v for k, v in request.headers.items() if k.lower() not in HOP | WEBSOCKET_HEADERS | {"accept-encoding"}
    }
    # Uncompressed between the gate and the tool, on the node itself: InvokeAI's socket.io answers a
    # compressed poll with an error (so its page says "System disconnected"), and it costs nothing here.
    headers["Accept-Encoding"] = "identity"
    cookies = [part.strip() for part in request.headers.get("Cookie", "").split(";") if part.strip()]
    kept = [part for part in cookies if part.split("=", 1)[0].strip() != COOKIE]
    headers.pop("Cookie", None)
    headers.pop("cookie", None)
    if kept:
        headers["Cookie"] = "; ".join(kept)
    return headers


def relative_location(location: str, origins: list[str]) -> str:
    """A redirect to one of `origins` (the tool's private address, or the Host it was asked by), as a path the
    proxy can prefix."""
    for origin in origins:
        if location == origin or location.startswith(origin + "/") or location.startswith(origin + "?"):
            return location[len(origin) :] or "/"
    return location


def gate_app(token: str | None, upstream: str, title: str, served: tuple[str, ...] = ()) -> web.Application:
    """The gate's web application: the rules, then everything passed to `upstream` (http://127.0.0.1:port)."""
    gate = make_gate(token, refuse_foreign=True, title=title)
    app = web.Application(middlewares=[gate], client_max_size=1024**3)

    async def open_client(app: web.Application) -> None:
        app[CLIENT] = ClientSession(
            timeout=ClientTimeout(total=None, sock_connect=10),
            cookie_jar=DummyCookieJar(),  # the student's browser keeps the tool's cookies, not the gate
            auto_decompress=False,
        )

    async def close_client(app: web.Application) -> None:
        await app[CLIENT].close()

    app.on_startup.append(open_client)
    app.on_cleanup.append(close_client)

    async def websocket(request: web.Request) -> web.StreamResponse:
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        client = request.app[CLIENT]
        async with client.ws_connect(
            upstream.replace("http", "ws", 1) + request.path_qs,
            headers=_forwarded_headers(request),
            protocols=protocols,
            autoping=False,
        ) as tool:
            browser = web.WebSocketResponse(protocols=protocols, autoping=False)
            await browser.prepare(request)

            async def carry(source, sink) -> None:
                async for message in source:
                    if message.type == WSMsgType.TEXT:
                        await sink.send_str(message.data)
                    elif message.type == WSMsgType.BINARY:
                        await sink.send_bytes(message.data)
                    elif message.type == WSMsgType.PING:
                        await sink.ping(message.data)
                    elif message.type == WSMsgType.PONG:
                        await sink.pong(message.data)
                    else:
                        break
                await sink.close()

            await asyncio.gather(carry(browser, tool), carry(tool, browser), return_exceptions=True)
            return browser

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket(request)
        client = request.app[CLIENT]
        # A body the browser sized goes on sized: engine.io (InvokeAI's socket.io) reads a chunked one as empty.
        sized = request.content_length is not None
        body = (await request.read() if sized else request.content) if request.body_exists else None
        async with client.request(
            request.method,
            upstream + request.path_qs,
            headers=_forwarded_headers(request),
            data=body,
            allow_redirects=False,
        ) as answer:
            headers = CIMultiDict((k, v) for k, v in answer.headers.items() if k.lower() not in HOP)  # Set-Cookie twice
            if "Location" in headers:
                asked = [f"{scheme}://{request.host}" for scheme in ("http", "https")]
                headers["Location"] = relative_location(headers["Location"], [upstream, *asked])
            response = web.StreamResponse(status=answer.status, reason=answer.reason, headers=headers)
            response.headers.add("Content-Security-Policy", OWN_ORIGIN_ONLY)
            protect(response.headers, request.path, served)  # the tool's own files: sandboxed
            if answer.headers.get("Content-Length") is not None:
                response.content_length = int(answer.headers["Content-Length"])
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m atelier.tools.gate", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the tool's private address, http://127.0.0.1:PORT")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key-file", type=Path, required=True, help="the session key (fail closed without it)")
    parser.add_argument("--title", default="the tool", help="the tool's name on the login page")
    parser.add_argument(
        "--served-files", action="append", default=[], metavar="PATH", help="a path where it sends files back"
    )
    args = parser.parse_args(argv)
    web.run_app(
        gate_app(_read_token_file(args.key_file), args.upstream.rstrip("/"), args.title, tuple(args.served_files)),
        host=args.listen,
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
