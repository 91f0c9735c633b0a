"""The dashboard's Box app: connect Box once, and bring saved workflows back (a WSGI application).

Open OnDemand serves it through Passenger in the student's own nginx (ood/box), so it runs
as the student, behind the portal's single sign-on, and writes only their rclone config.
Its address comes from the site file `atelier ood deploy` writes, never from the request's
Host header: that address is the redirect URI registered in the university's Box app, and
the one origin whose pages may press its buttons. Standard library only, so the app needs
nothing beyond atelier's own install; every page works without JavaScript and loads
nothing from elsewhere; an error is the message list's sentence, never a traceback.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from atelier.keep import backup, box_signin
from atelier.layout import USER_FOLDER, expand_home
from atelier.messages import AtelierError
from atelier.web import answered

CALLBACK = "/callback"
STATUS = {
    "box-page-unknown": "404 Not Found",
    "box-page-elsewhere": "403 Forbidden",
    "box-signin-stale": "400 Bad Request",
    "box-page-failed": "500 Internal Server Error",
}
HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),  # every page says what is true now
    # The callback's address holds a code: no other site sees it. Not "no-referrer": Chromium then sends
    # "Origin: null" with the restore form, which the origin check must refuse.
    ("Referrer-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class Site:
    """What `atelier ood deploy` wrote for the app: the profile's backup settings and the app's address."""

    settings: backup.Settings
    user_folder: str  # with $HOME in it, expanded for the student who runs the app
    redirect_uri: str | None  # None: the profile names no ondemand_url

    @property
    def base(self) -> str | None:
        """The app's own path, e.g. /pun/sys/box."""
        return urlsplit(self.redirect_uri).path.removesuffix(CALLBACK) if self.redirect_uri else None

    @property
    def origin(self) -> str | None:
        parts = urlsplit(self.redirect_uri) if self.redirect_uri else None
        return f"{parts.scheme}://{parts.netloc}" if parts else None


def load_site(path: Path) -> Site:
    """Read the app's site file (JSON: the system Python's passenger_wsgi.py reads it too)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return Site(
        backup.settings_from(data.get("backup"), path),
        str(data.get("user_folder") or USER_FOLDER),
        data.get("redirect_uri"),
    )


class BoxApp:
    """The WSGI application: `/`, `/connect`, `/callback` and `/restore` under the app's path."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.settings = site.settings
        self.title = site.settings.title

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        script = environ.get("SCRIPT_NAME", "")
        base = self.site.base if self.site.base is not None else script  # Passenger's base URI under OOD
        status, headers, body = answered(
            environ,
            lambda: self.answer(environ, base),
            lambda error: self.trouble(error, base),
            lambda name: AtelierError("box-page-failed", title=self.title, error=name),
            STATUS,
            "200 OK",
        )
        data = body.encode("utf-8")
        start_response(status, headers + HEADERS + [("Content-Length", str(len(data)))])
        return [data]

    def answer(self, environ: dict[str, Any], base: str) -> tuple[str, list[tuple[str, str]], str]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        route = path[len(base) :] if path.startswith(base) else None  # Passenger standalone mounts it at /
        method = environ.get("REQUEST_METHOD", "GET")
        query = environ.get("QUERY_STRING", "")
        if route in ("", "/") and method in ("GET", "HEAD"):
            return "200 OK", [], self.status_page(base, dict(parse_qsl(query)).get("connected") == "1")
        if route == "/connect" and method in ("GET", "HEAD"):
            url = box_signin.start(self.settings, self.site.redirect_uri, box_signin.state_file(self.settings))
            return "303 See Other", [("Location", url)], self.page("<p>On to the sign-in page.</p>")
        if route == CALLBACK and method in ("GET", "HEAD"):
            box_signin.finish(self.settings, self.site.redirect_uri, query, box_signin.state_file(self.settings))
            return "303 See Other", [("Location", f"{base}/?connected=1")], self.page("<p>Connected.</p>")
        if route == "/restore" and method == "POST":
            origin = environ.get("HTTP_ORIGIN")
            if origin and self.site.origin and origin != self.site.origin:
                raise AtelierError("box-page-elsewhere", title=self.title)
            return "200 OK", [], self.restored_page(base)
        raise AtelierError("box-page-unknown", title=self.title, path=path or "/")

    # The pages: one h1 each, buttons that say what they do.

    def status_page(self, base: str, just_connected: bool) -> str:
        if self.settings.remote not in backup.remotes():
            return self.page(
                f"<h2>{self.e(self.title)} is not connected yet</h2>"
                f"<p>Connect it once, and every session keeps a copy of your work in your {self.e(self.title)}. "
                f"Press the button, sign in with your university account, then choose "
                f"<strong>Grant access to {self.e(self.title)}</strong>.</p>"
                f'<p><a class="button" href="{self.e(base)}/connect">Connect {self.e(self.title)}</a></p>'
            )
        every = self.settings.every_minutes
        when = f"every {every} minutes and once more as it ends" if every else "when you ask it to"
        body = (
            f"<h2>{self.e(self.title)} is connected</h2>"
            f"<p>Every session copies your outputs and saved workflows to the folder "
            f"<strong>{self.e(self.settings.folder)}</strong> in your {self.e(self.title)}, {when}.</p>"
        )
        if just_connected:
            body += "<p>Nothing else to do: you can close this tab and start a ComfyUI session.</p>"
        body += (
            f"<h2>Working on another cluster, or lost your workflows?</h2>"
            f"<p>This brings back what {self.e(self.title)} holds of your ComfyUI folder (saved workflows, "
            f"uploads) into {self.where(self.folder())}. Nothing here is replaced or deleted.</p>"
            f'<form method="post" action="{self.e(base)}/restore">'
            f'<button type="submit">Bring my workflows back from {self.e(self.title)}</button></form>'
            f"<h2>Something wrong with the connection?</h2>"
            f'<p><a class="button secondary" href="{self.e(base)}/connect">Connect again</a></p>'
        )
        return self.page(body)

    def restored_page(self, base: str) -> str:
        folder = self.folder()
        result = backup.restore(self.settings.target, folder)
        body = (
            f'<h2>Back from {self.e(self.title)}</h2><p role="status">{_files(result.copied)} came back from '
            f"{self.e(self.title)} into {self.where(folder)}."
        )
        if result.same:
            body += f" {_files(result.same, 'was', 'were')} here already."
        body += "</p>"
        if result.kept:
            names = ", ".join(f"<code>{self.e(name)}</code>" for name in result.kept[:10])
            more = f" and {len(result.kept) - 10} more" if len(result.kept) > 10 else ""
            body += (
                "<p>1 file was kept as it is, because a different file of that name is already here: "
                if len(result.kept) == 1
                else f"<p>{len(result.kept)} files were kept as they are, because different files of those names "
                "are already here: "
            ) + f"{names}{more}.</p>"
        return self.page(body + self.back(base))

    def trouble(self, error: AtelierError, base: str) -> str:
        return self.page(
            f'<h2>That did not work</h2><p role="alert">{self.e(error.text)}</p>'
            f"<p>{self.e(error.hint)}</p>" + self.back(base)
        )

    def back(self, base: str) -> str:
        return f'<p><a href="{self.e(base)}/">Back to the {self.e(self.title)} page</a></p>'

    def page(self, body: str) -> str:
        return (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{self.e(self.title)} backup</title><style>{STYLE}</style></head>"
            f"<body><main><h1>{self.e(self.title)} backup</h1>{body}</main></body></html>\n"
        )

    def where(self, folder: Path) -> str:
        """A folder as the student finds it in the dashboard's Files: by its name in their home folder."""
        try:
            return f"<code>{self.e(folder.relative_to(Path.home()).as_posix())}</code> in your home folder"
        except ValueError:
            return f"<code>{self.e(str(folder))}</code>"

    def folder(self) -> Path:
        return expand_home(self.site.user_folder)

    @staticmethod
    def e(text: str) -> str:
        return html.escape(text, quote=True)


def _files(count: int, singular: str = "", plural: str = "") -> str:
    words = f"{count} file" + ("" if count == 1 else "s")
    return f"{words} {singular if count == 1 else plural}".rstrip()


def application_from(site_file: Path) -> BoxApp:
    """The app as passenger_wsgi.py serves it."""
    return BoxApp(load_site(site_file))


STYLE = """
body { font: 1.05rem/1.5 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
main { max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.7rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
a.button, button { display: inline-block; font: inherit; padding: .6rem 1.1rem; border-radius: .4rem;
  border: 2px solid #0b4f8a; background: #0b4f8a; color: #fff; text-decoration: none; cursor: pointer; }
a.button.secondary { background: #fff; color: #0b4f8a; }
a:focus-visible, button:focus-visible { outline: 3px solid #c25e00; outline-offset: 2px; }
code { background: #f2f2f2; padding: 0 .2rem; }
"""
