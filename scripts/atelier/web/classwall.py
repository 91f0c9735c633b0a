"""The dashboard's Class wall app: an instructor builds a class's wall in the browser (a WSGI application).

Open OnDemand serves it through Passenger in the instructor's own nginx (ood/classwall), so
it runs as the instructor, behind the portal's single sign-on, and reads only what they may
read. The wall is keep/classwall.py's, written into the instructor's walls folder; this app
only picks the course folder, builds, and serves what the wall shows. It opens course
folders only under the roots its site file names (home, the site's group folders), and it
serves a file only when, links followed, the file lies inside a wall's own folder or inside
the course folder that wall was built from, and is a kind of file a wall shows: a path that
climbs out (.., a link) is refused. Standard library only; every page works without
JavaScript and loads nothing from elsewhere; an error is the message list's sentence, never
a traceback.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from atelier.keep import classwall
from atelier.keep.compare import CSV_FILE, WORKBOOK
from atelier.keep.outputs import KINDS
from atelier.layout import expand_home
from atelier.lessons.modules import all_modules
from atelier.messages import AtelierError
from atelier.web import answered
from atelier.web.box import STYLE, StartResponse

TITLE = "Class wall"
FILES = "/files"  # then a file's absolute path: the wall's relative links to the course folder stay under it
COURSE = ".course-folder"  # in a wall's folder: the course folder it was built from
SHOWN = set(KINDS)  # the outputs a wall shows or links to: every kind the ledger reads
OWN = {classwall.WALL, WORKBOOK, CSV_FILE}  # the documents a wall's folder holds, beside its pictures
STATUS = {
    "classwall-page-unknown": "404 Not Found",
    "classwall-file-refused": "403 Forbidden",
    "classwall-page-elsewhere": "403 Forbidden",
    "classwall-page-failed": "500 Internal Server Error",
}
POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", POLICY),
    ("X-Content-Type-Options", "nosniff"),
]
MOST_FOUND = 100  # course folders listed per root; more are typed


@dataclass(frozen=True)
class Site:
    """What `atelier ood deploy` wrote for the app (the folders with $HOME in them, for the instructor running it)."""

    base: str  # the app's path on the dashboard, e.g. /pun/sys/classwall
    roots: tuple[str, ...]  # where course folders may be opened
    walls: str  # where walls are written
    workflows: Path | None  # the lessons, for their titles and knobs
    origin: str | None  # the dashboard's: the one site whose pages may press Build

    def root_folders(self) -> list[Path]:
        return [expand_home(root).resolve() for root in self.roots]

    def walls_folder(self) -> Path:
        return expand_home(self.walls)


def load_site(path: Path) -> Site:
    """Read the app's site file (JSON: the system Python's passenger_wsgi.py reads it too)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    workflows = data.get("workflows")
    return Site(
        str(data.get("base") or ""),
        tuple(data.get("course_roots") or ["$HOME"]),
        str(data.get("walls") or "$HOME/atelier-class-walls"),
        Path(workflows) if workflows else None,
        data.get("origin"),
    )


class ClassWallApp:
    """The WSGI application: `/` (the form and the walls built), `/build`, and `/files/...` under the app's path."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        base = self.site.base or environ.get("SCRIPT_NAME", "")
        status, headers, body = answered(
            environ,
            lambda: self.answer(environ, base),
            lambda error: self.trouble(error, base),
            lambda name: AtelierError("classwall-page-failed", error=name),
            STATUS,
            "400 Bad Request",
        )
        if isinstance(body, str):
            data = body.encode("utf-8")
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))] + headers
            body = [data]
        start_response(status, headers + HEADERS)
        return body

    def answer(self, environ: dict[str, Any], base: str) -> tuple[str, list[tuple[str, str]], str | Iterable[bytes]]:
        path = _path(environ)
        route = path[len(base) :] if path.startswith(base) else None  # Passenger standalone mounts it at /
        method = environ.get("REQUEST_METHOD", "GET")
        if route in ("", "/") and method in ("GET", "HEAD"):
            return "200 OK", [], self.first_page(base)
        if route == "/build" and method == "POST":
            origin = environ.get("HTTP_ORIGIN")
            if origin and self.site.origin and origin != self.site.origin:
                raise AtelierError("classwall-page-elsewhere")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = dict(parse_qsl(environ["wsgi.input"].read(min(length, 65536)).decode("utf-8", "replace")))
            built = self.build(form.get("typed", "").strip() or form.get("course", ""))
            return "303 See Other", [("Location", self.link(base, built / classwall.WALL))], "<p>Built.</p>"
        if route is not None and route.startswith(FILES + "/") and method in ("GET", "HEAD"):
            return self.send(environ, self.served(route[len(FILES) :]))
        raise AtelierError("classwall-page-unknown", path=path or "/")

    # Building: a course folder inside the roots, a wall folder of its own in the instructor's walls folder.

    def course_folder(self, typed: str) -> Path:
        """The folder the instructor picked or typed ("crit" and "~/crit" are in their home), checked to lie in a
        root; whether it holds students is keep/classwall.py's to say."""
        if not typed.strip():
            raise AtelierError("classwall-folder-blank")
        folder = expand_home(typed.strip())
        folder = (folder if folder.is_absolute() else Path.home() / folder).resolve()
        if not any(folder.is_relative_to(root) for root in self.site.root_folders()):
            raise AtelierError("classwall-folder-outside", folder=typed.strip(), roots=self.roots_said())
        return folder

    def build(self, typed: str) -> Path:
        course = self.course_folder(typed)
        out = self.site.walls_folder() / f"{course.name}-{hashlib.sha1(str(course).encode()).hexdigest()[:8]}"
        lessons = all_modules(self.site.workflows) if self.site.workflows and self.site.workflows.is_dir() else []
        classwall.wall(course, out, lessons=lessons)  # initials, but for the course folder's show-names.txt
        (out / COURSE).write_text(str(course), encoding="utf-8")  # what /files may serve for this wall
        return out

    def built(self) -> list[tuple[Path, Path]]:
        """(wall folder, course folder) of every wall this app built, newest first."""
        walls = self.site.walls_folder()
        found = []
        for folder in sorted(walls.iterdir(), key=lambda f: -f.stat().st_mtime) if walls.is_dir() else []:
            record = folder / COURSE
            if record.is_file() and (folder / classwall.WALL).is_file():
                found.append((folder.resolve(), Path(record.read_text(encoding="utf-8").strip()).resolve()))
        return found

    # Serving: only a wall's own documents and pictures, and the pictures of its course folder.

    def served(self, tail: str) -> Path:
        """The file `tail` (an absolute path) names, links followed, if a wall may show it; else refused."""
        wanted = Path("/" + tail.lstrip("/"))
        found = Path(os.path.realpath(wanted))
        shown = found.suffix.lower() in SHOWN
        for wall, course in self.built():
            mine = _inside(found, wall) and (found.name in OWN or shown)
            if mine or (_inside(found, course) and shown):
                if not found.is_file():
                    raise AtelierError("classwall-page-unknown", path=str(wanted))
                return found
        raise AtelierError("classwall-file-refused", path=str(wanted))

    def send(self, environ: dict[str, Any], file: Path) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = [
            ("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") else "")),
            ("Content-Length", str(file.stat().st_size)),
        ]
        if file.suffix.lower() in (".xlsx", ".csv"):
            headers.append(("Content-Disposition", f'attachment; filename="{file.name}"'))
        handle = file.open("rb")
        wrapper = environ.get("wsgi.file_wrapper")
        return "200 OK", headers, wrapper(handle, 65536) if wrapper else _chunks(handle)

    # The pages: one h1 each, buttons that say what they do.

    def first_page(self, base: str) -> str:
        found = self.found_courses()
        picks = "".join(
            f'<li><label><input type="radio" name="course" value="{self.e(str(folder))}"> {self.e(self.said(folder))}'
            f"</label></li>"
            for folder in found
        )
        pick = (
            f'<fieldset><legend>Pick a course folder</legend><ul class="picks">{picks}</ul></fieldset>'
            f'<p><label for="typed">Or type the path of a course folder</label><br>'
            if found
            else '<p><label for="typed">Course folder</label><br>'
        )
        body = (
            f"<p>Pick the course folder that holds one folder (or Box zip) per student, then press "
            f"<strong>Build the class wall</strong>: every student's pictures on one page, a row per student and "
            f"a column per lesson. Nothing is written into the students' folders.</p>"
            f'<form method="post" action="{self.e(base)}/build">{pick}'
            f'<input type="text" id="typed" name="typed" aria-describedby="typed-help" '
            f'autocomplete="off" spellcheck="false"></p>'
            f'<p id="typed-help" class="help">For example <code>~/crit</code>. Course folders open from '
            f"{self.e(self.roots_said())}.</p>"
            f'<p><button type="submit">Build the class wall</button></p></form>'
            f"<h2>Names on the wall</h2><p>Each student is shown by their initials, since a wall is made to be "
            f"shown to the class. A student who agreed to be shown by name is listed in the file "
            f"<code>{classwall.SHOW_NAMES}</code> in the course folder, one folder name a line; build the wall "
            f"again after changing it.</p>"
        )
        walls = self.built()
        if walls:
            rows = "".join(
                f'<li><a href="{self.link(base, wall / classwall.WALL)}">{self.e(self.said(course))}</a> '
                f'(<a href="{self.link(base, wall / WORKBOOK)}">workbook</a>, '
                f'<a href="{self.link(base, wall / CSV_FILE)}">CSV</a>)</li>'
                for wall, course in walls
            )
            body += (
                f"<h2>Walls you built</h2><p>Build a wall again to add what students handed in since; only new "
                f"files are read.</p><ul>{rows}</ul>"
            )
        return self.page(body)

    def found_courses(self) -> list[Path]:
        """Folders under the roots that hold at least one folder or zip (a student's), the walls folder aside."""
        walls = self.site.walls_folder().resolve()
        found: list[Path] = []
        for root in self.site.root_folders():
            try:
                children = sorted((c for c in root.iterdir() if not c.name.startswith(".")), key=lambda c: c.name)
            except OSError:
                continue  # a root this instructor cannot read: typed paths still work where they can
            listed = 0
            for child in children:
                if listed >= MOST_FOUND:
                    break
                try:
                    if (
                        child.is_dir()
                        and child.resolve() != walls
                        and any(
                            not e.name.startswith(".") and (e.is_dir() or e.suffix.lower() == ".zip")
                            for e in child.iterdir()
                        )
                    ):
                        found.append(child)
                        listed += 1
                except OSError:
                    continue
        return found

    def trouble(self, error: AtelierError, base: str) -> str:
        return self.page(
            f'<h2>That did not work</h2><p role="alert">{self.e(error.text)}</p>'
            f'<p>{self.e(error.hint)}</p><p><a href="{self.e(base)}/">Back to the Class wall page</a></p>'
        )

    def page(self, body: str) -> str:
        return (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{TITLE}</title><style>{STYLE}{MORE_STYLE}</style></head>"
            f"<body><main><h1>{TITLE}</h1>{body}</main></body></html>\n"
        )

    def roots_said(self) -> str:
        """The roots as the instructor knows them: "your home folder or /groups/courses"."""
        home = Path.home().resolve()
        said = ["your home folder" if root == home else str(root) for root in self.site.root_folders()]
        return " or ".join(dict.fromkeys(said))

    @staticmethod
    def said(folder: Path) -> str:
        """A folder as the instructor finds it in the dashboard's Files: ~/name in their home."""
        try:
            return "~/" + folder.relative_to(Path.home().resolve()).as_posix()
        except ValueError:
            return str(folder)

    @staticmethod
    def link(base: str, file: Path) -> str:
        return html.escape(f"{base}{FILES}{quote(file.as_posix())}", quote=True)

    @staticmethod
    def e(text: str) -> str:
        return html.escape(text, quote=True)


def _path(environ: dict[str, Any]) -> str:
    """The path asked for, decoded once: Passenger hands PATH_INFO over still encoded (%20), where WSGI decodes it."""
    raw = environ.get("REQUEST_URI")
    if raw:
        return unquote(raw.partition("?")[0])
    return environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")


def _inside(file: Path, folder: Path) -> bool:
    """Within `folder`, and not hidden there (a ledger's journal, the wall's own record, a student's dotfiles)."""
    return file.is_relative_to(folder) and not any(p.startswith(".") for p in file.relative_to(folder).parts)


def _chunks(handle: Any) -> Iterable[bytes]:
    with handle:
        yield from iter(lambda: handle.read(65536), b"")


def application_from(site_file: Path) -> ClassWallApp:
    """The app as passenger_wsgi.py serves it."""
    return ClassWallApp(load_site(site_file))


MORE_STYLE = """
fieldset { border: 1px solid #bbb; border-radius: .4rem; padding: .5rem 1rem; }
ul.picks { list-style: none; padding: 0; margin: 0; }
ul.picks li { margin: .35rem 0; } ul.picks label { display: inline-block; min-height: 24px; overflow-wrap: anywhere; }
input[type=text] { font: inherit; width: 100%; max-width: 36rem; box-sizing: border-box; padding: .4rem; }
input[type=radio] { width: 1.1rem; height: 1.1rem; vertical-align: middle; }
.help { color: #444; font-size: .95rem; }
input:focus-visible { outline: 3px solid #c25e00; outline-offset: 2px; }
"""
