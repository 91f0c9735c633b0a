"""The login gate: a ComfyUI extension that lets only this session's owner in.

ComfyUI has no login, and on a shared cluster anyone who can reach a compute node's
port, or the dashboard's /rnode proxy, could use another student's session and read
their work. Loaded as a custom node, this module puts an aiohttp middleware in front
of every route ComfyUI serves, the /ws WebSocket included:

* the session's random token (from the file named by ATELIER_GATE_TOKEN_FILE) is
  presented once, by POST to /atelier/login, never in a URL;
* the answer sets an HttpOnly, SameSite=Strict cookie (Secure behind https) holding an
  HMAC of the token, scoped to the session's own path under the proxy;
* every other request without that cookie gets 403 and nothing else;
* after login the browser is sent back relatively (`../` from `<base>atelier/login`):
  Open OnDemand's proxy puts its own prefix in front of any Location that starts
  with `/`, so an absolute path would land on `/rnode/h/p/rnode/h/p/`;
* a logged-in request from the proxy's own origin (Origin is the host the proxy says
  the browser asked, its X-Forwarded-Host) has its Origin header taken away before
  ComfyUI's own check sees it: that check answers 403 when Host and Origin differ and
  the node's name is a loopback address, which through a proxy they always do. Any
  other origin is left for ComfyUI's check to judge; in front of a tool with no such
  check (`refuse_foreign=True`, the standalone gate of atelier.tools) the gate refuses it;
* files ComfyUI serves back (/view) are sandboxed: every session shares the dashboard's
  web origin, so an uploaded SVG or HTML file must not run script there, where it
  could reach another session's path with that student's cookie;
* the page stays under the proxy's prefix: the frontend builds one path from the site's
  root, the tab icon's progress frames (/assets/images/favicon_progress_16x16/...), which
  through /rnode/<node>/<port>/ asks the dashboard instead of this session. prefix.js
  puts the page's own base in front of it. It has to run before the frontend's scripts,
  which set the first icon before any extension's WEB_DIRECTORY script loads, so the gate
  writes it into the page (GET / and /index.html) as the first script; the pinned
  frontend package itself is left as installed.

It fails closed: if the token cannot be read, every request is refused. It is
standalone (ComfyUI's Python imports it), so it uses nothing from the atelier package;
atelier imports it too, for the cookie's name and value, and then installs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

COOKIE = "atelier_gate"
# Copies of atelier.comfy.server's LOGIN and KEY_LEAST, held to them by tests/unit/test_copies.py.
LOGIN = "/atelier/login"
KEY_LEAST = 22  # at least 128 bits in URL-safe base64
SAFE_BASE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
SERVED_FILES = {"/view", "/api/view"}  # user files, shown back in the browser
PAGES = {"/", "/index.html"}  # ComfyUI's page, where prefix.js goes first
PREFIX_SCRIPT = Path(__file__).with_name("prefix.js")
NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} session</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>Open your {title} session</h1>
<form method="post" action="login">
<p><label for="token">Session key (from the command that started this session)</label><br>
<input id="token" name="token" type="password" autocomplete="off" required style="width: 100%"></p>
<p><button type="submit">Open</button></p>
</form></body></html>
"""


def session_cookie(token: str) -> str:
    """What the browser holds after logging in: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"atelier-gate-session", hashlib.sha256).hexdigest()


def _read_token_file(path: Path) -> str | None:
    """The session key in `path`, or None (the gate then refuses everything) if it is missing or short."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return token if len(token) >= KEY_LEAST else None


def _read_token() -> str | None:
    path = os.environ.get("ATELIER_GATE_TOKEN_FILE", "")
    return _read_token_file(Path(path)) if path else None


def _same_origin_through_proxy(headers) -> bool:
    """Origin is the address the browser used, as the nearest proxy recorded it (the last one it appended)."""
    origin = urlsplit(headers.get("Origin", "")).netloc.lower()
    forwarded = headers.get("X-Forwarded-Host", "").split(",")[-1].strip().lower()
    return bool(origin) and origin == forwarded


def with_prefix_script(html: str, script: str) -> str:
    """The page with `script` inline before its first script (the frontend's own come after)."""
    at = html.find("<script")
    return html if at < 0 else f"{html[:at]}<script>{script}</script>{html[at:]}"


def _foreign_origin(headers) -> bool:
    """An Origin that is neither the proxy's nor the address asked directly: another site's page."""
    origin = headers.get("Origin")
    if origin is None:
        return False
    return (
        _same_origin_through_proxy(headers) is False
        and urlsplit(origin).netloc.lower() != headers.get("Host", "").lower()
    )


def protect(headers, path: str, served) -> None:
    """Headers every answer gets: no guessing of types, and a file the session sends back (a path
    starting with one of `served`) opened sandboxed, with no origin and no cookies: every session shares
    the dashboard's origin, so an uploaded SVG or HTML page must not run script there."""
    headers["X-Content-Type-Options"] = "nosniff"
    if any(path == prefix or path.startswith(prefix) for prefix in served):
        headers.add("Content-Security-Policy", "sandbox")


def make_gate(token: str | None, page: Path | None = None, refuse_foreign: bool = False, title: str = "ComfyUI"):
    """The middleware; `page` is ComfyUI's index.html, served with prefix.js first; `refuse_foreign`
    refuses another site's Origin itself, for a tool that does not check it; `title` names the tool on the
    login page."""
    from aiohttp import web  # ComfyUI's web server; only there when ComfyUI loads us
    from multidict import CIMultiDict  # aiohttp's own header type

    expected = session_cookie(token) if token else None
    login_page = LOGIN_PAGE.replace("{title}", html.escape(title))
    script = PREFIX_SCRIPT.read_text(encoding="utf-8")

    def _forbidden() -> web.Response:
        return web.Response(status=403, text="Forbidden")

    @web.middleware
    async def gate(request: web.Request, handler):
        if expected is None:
            return _forbidden()  # fail closed: no token, no access
        if request.path == LOGIN:
            if request.method == "GET":
                return web.Response(text=login_page, content_type="text/html")
            if request.method != "POST":
                return _forbidden()
            form = await request.post()
            presented = str(form.get("token", ""))
            if not hmac.compare_digest(presented.encode(), token.encode()):
                return _forbidden()
            base = str(form.get("base", "/")) or "/"
            if not SAFE_BASE.match(base):
                base = "/"
            response = web.Response(status=303, headers={"Location": "../"})  # relative: see the docstring
            secure = request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
            response.set_cookie(COOKIE, expected, path=base, httponly=True, samesite="Strict", secure=secure)
            return response
        if not hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), expected.encode()):
            return _forbidden()
        if refuse_foreign and _foreign_origin(request.headers):
            return _forbidden()
        if _same_origin_through_proxy(request.headers):
            request = request.clone(
                headers=CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() != "origin")
            )
        response = await handler(request)
        if page is not None and request.path in PAGES and isinstance(response, web.FileResponse):
            html = with_prefix_script(page.read_text(encoding="utf-8"), script)
            headers = {k: v for k, v in response.headers.items() if k.lower() in ("cache-control", "pragma", "expires")}
            response = web.Response(text=html, content_type="text/html", headers=headers)
        if not response.prepared:  # the /ws upgrade has already answered
            protect(response.headers, request.path, SERVED_FILES)
        return response

    return gate


def _install() -> None:
    server = sys.modules.get("server")
    if server is None or getattr(getattr(server, "PromptServer", None), "instance", None) is None:
        return  # imported by atelier for the cookie, not by ComfyUI
    PromptServer = server.PromptServer
    token = _read_token()
    page = Path(PromptServer.instance.web_root) / "index.html"
    PromptServer.instance.app.middlewares.insert(0, make_gate(token, page))
    if token is None:
        logging.error("atelier gate: no session token could be read; every request will be refused")
    else:
        logging.info("atelier gate: every route now needs this session's login")


_install()
