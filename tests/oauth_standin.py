"""Box's OAuth 2.0 sign-in on 127.0.0.1, for tests, and a proxy that lets nothing out.

`OAuthStandIn` does what Box's two endpoints do for the authorization-code flow
(RFC 6749 section 4.1) and for refreshing (section 6): the authorize page asks the person
to grant or deny and sends the browser back to the redirect URI with a code or
`error=access_denied`, always with the state it was given; the token endpoint checks the
client's id and secret (in the form or in HTTP Basic, as RFC 6749 allows and Go's oauth2
tries both), that a code is used once and with the redirect URI it was issued for, and
which refresh tokens are live. Like Box it hands out a new refresh token on each refresh.
Every token request is recorded for the test to read.

`RefusingProxy` answers every request and CONNECT with 403, and records what was asked:
set as HTTPS_PROXY, it keeps rclone's calls to Box's API on this machine.
"""

from __future__ import annotations

import base64
import html
import http.server
import json
import secrets
import socketserver
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

AUTHORIZE_PATH = "/api/oauth2/authorize"  # Box's own paths, on a stand-in host
TOKEN_PATH = "/oauth2/token"


@dataclass
class OAuthStandIn:
    client_id: str = "atelier-test-client"
    client_secret: str = "atelier-test-secret"
    expires_in: int = 3600  # what the token answer says; a few seconds makes Go's oauth2 refresh at once
    requests: list[dict[str, str]] = field(default_factory=list)  # every token request's form, plus "client_auth"
    codes: dict[str, str] = field(default_factory=dict)  # live code -> the redirect URI it was issued for
    refresh_tokens: set[str] = field(default_factory=set)
    issued: list[dict[str, object]] = field(default_factory=list)  # every token answer, in order

    def start(self) -> OAuthStandIn:
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                standin._authorize_page(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                path = urlsplit(self.path).path
                if path == AUTHORIZE_PATH:
                    standin._decide(self, form)
                elif path == TOKEN_PATH:
                    standin._token(self, form)
                else:
                    _send(self, 404, "text/plain", b"not found")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return self.url + AUTHORIZE_PATH

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    def _authorize_page(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        asked = dict(parse_qsl(parts.query))
        if parts.path != AUTHORIZE_PATH:
            return _send(handler, 404, "text/plain", b"not found")
        if (
            asked.get("response_type") != "code"
            or asked.get("client_id") != self.client_id
            or not asked.get("redirect_uri")
        ):
            return _send(handler, 400, "text/plain", b"invalid_request: unknown client or no redirect_uri")
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in asked.items()
        )
        page = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Box sign-in (stand-in)</title>'
            f'</head><body><main><h1>Grant access to Box?</h1><form method="post" action="{AUTHORIZE_PATH}">'
            f'{hidden}<button name="choice" value="grant">Grant access to Box</button>'
            f'<button name="choice" value="deny">Deny</button></form></main></body></html>'
        )
        _send(handler, 200, "text/html; charset=utf-8", page.encode())

    def _decide(self, handler: http.server.BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        back: dict[str, str] = {"state": form.get("state", "")}
        if form.get("choice") == "grant":
            code = secrets.token_urlsafe(16)
            self.codes[code] = form["redirect_uri"]
            back = {"code": code, **back}
        else:
            back = {"error": "access_denied", "error_description": "The user denied access to your application", **back}
        handler.send_response(302)
        handler.send_header("Location", f"{form['redirect_uri']}?{urlencode(back)}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _token(self, handler: http.server.BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        client_id, client_secret, how = form.get("client_id"), form.get("client_secret"), "form"
        basic = handler.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            how = "basic"
        self.requests.append(
            {**form, "client_id": client_id or "", "client_secret": client_secret or "", "client_auth": how}
        )
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return _json(
                handler, 400, {"error": "invalid_client", "error_description": "The client credentials are invalid"}
            )
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued_for = self.codes.pop(form.get("code", ""), None)
            if issued_for is None or issued_for != form.get("redirect_uri"):
                return _json(
                    handler,
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "Auth code doesn't exist or is invalid for the client",
                    },
                )
        elif grant == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return _json(handler, 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
            self.refresh_tokens.discard(form["refresh_token"])
        else:
            return _json(handler, 400, {"error": "unsupported_grant_type"})
        answer = {
            "access_token": secrets.token_urlsafe(24),
            "expires_in": self.expires_in,
            "restricted_to": [],
            "refresh_token": secrets.token_urlsafe(48),
            "token_type": "bearer",
        }
        self.refresh_tokens.add(answer["refresh_token"])
        self.issued.append(answer)
        _json(handler, 200, answer)


def _send(handler: http.server.BaseHTTPRequestHandler, status: int, kind: str, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _json(handler: http.server.BaseHTTPRequestHandler, status: int, data: dict[str, object]) -> None:
    _send(handler, status, "application/json", json.dumps(data).encode())


class RefusingProxy:
    """An HTTP(S) proxy on 127.0.0.1 that forwards nothing: 403 to all, each request line recorded."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline().decode(errors="replace").strip()
                while self.rfile.readline().strip():  # the headers
                    pass
                proxy.asked.append(line)
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
