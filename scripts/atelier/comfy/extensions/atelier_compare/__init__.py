"""The Compare page: a student picks outputs in the browser and gets the contact sheet and workbook.

Students never open a terminal, so `atelier compare` is offered inside their ComfyUI
session, from an entry in ComfyUI's menu (web/compare.js):

* GET  atelier/compare lists the outputs folder, newest first, a thumbnail and a tick
  box each, and a "compare the newest N" choice;
* POST atelier/compare (from that page only) runs atelier's own command on what was
  picked; a problem is said on the same page, with the choices kept; otherwise the
  browser goes on to the result;
* GET  atelier/compare/made/<date-time> links the contact sheet and the workbook, both
  saved in the outputs folder under comparisons/<date-time>/. A comparison that takes
  longer than WAIT goes on after the POST has answered, and this page shows a progress
  bar and asks again every two seconds (a proxy gives up on a request that waits long);
* GET  atelier/compare/files/<path> serves a file of the outputs folder (the documents,
  their thumbnails and the full-size pictures they link to by relative paths), and
  atelier/compare/thumb/<path> a small JPEG of a picture for the list.

Standalone like the gate: ComfyUI's Python imports it and has neither atelier nor
xlsxwriter, so the comparing is atelier's, run as `<ATELIER_PYTHON> -m atelier compare
--within <outputs>` (ComfyServer passes the interpreter and the folder). That command
refuses anything outside the folder and says every problem a student can meet in a
registered message, which this page shows as it is; the one sentence for when the
command says nothing comes from the same catalogue, in ATELIER_COMPARE_FAILED.

Why it is safe to have in the dashboard's shared web origin:

* every route is behind the gate's login (its middleware runs first);
* links and form actions are relative, for Open OnDemand's /rnode/ proxy; a redirect
  names the absolute path instead (`/atelier/compare/...`), because that proxy puts its
  /rnode/<host>/<port> prefix in front of a Location that starts with "/", and into the
  middle of a relative one at its first "/" ("compare/made/x" came back as
  "compare/rnode/<host>/<port>/made/x" through OOD's own Apache config);
* a POST must carry a random key of this process that only the page holds, and must
  not be marked by the browser as coming from elsewhere (Sec-Fetch-Site, and Origin
  when the gate left it, which it does only when it is not the proxy's own). The gate's
  SameSite=Strict cookie already keeps other sites out; the key also keeps out pages
  on other hosts of the university's own site, to which that cookie still goes;
* files are served from the outputs folder only (no `..`, no absolute path, no link
  that leads out), only of the kinds a comparison shows, with their type set here and
  a Content-Security-Policy under which no script runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, urlsplit

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "web"  # compare.js: the entry in ComfyUI's menu

PAGE = "/atelier/compare"
COMPARISONS = "comparisons"  # in the outputs folder: one folder per comparison made here
LEDGER = "atelier-ledger.sqlite"
SHEET, WORKBOOK, CSV_FILE = "contact-sheet.html", "comparison.xlsx", "comparison.csv"  # as keep/compare.py writes
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:-\d{1,4})?$")
# What keep/outputs.py reads, by the type a browser is told.
MEDIA = {
    ".png": "image/png", ".webp": "image/webp", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".mp4": "video/mp4", ".webm": "video/webm", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
    ".flac": "audio/flac", ".wav": "audio/wav", ".mp3": "audio/mpeg", ".opus": "audio/ogg", ".ogg": "audio/ogg",
    ".m4a": "audio/mp4", ".glb": "model/gltf-binary",
}
PICTURES = {".png", ".webp", ".jpg", ".jpeg", ".gif"}
MADE = {".html": "text/html; charset=utf-8", ".csv": "text/csv; charset=utf-8",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # only inside comparisons/
DOWNLOADS = {".xlsx", ".csv", ".glb"}
THUMB = 192  # pixels, longest side, in the list
SHOWN = 120  # outputs listed before "Show all"
MOST_PICKED = 2000
LONGEST = 900  # seconds a comparison may take before it is stopped
# Seconds a POST waits for the comparison: long enough for atelier to start and refuse a wrong pick (said on
# the page, the ticks kept), short enough that a long one shows a progress bar on a page that asks again,
# rather than a browser that spins until a proxy in between gives up on the request.
WAIT = 6.0
FALLBACK = ("The comparison could not be made: the program that makes it stopped without saying why. "
            "Reload the Compare page and try again.")  # only when ComfyServer did not pass the catalogue's
PAGE_CSP = ("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'")
FILE_CSP = ("default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'; sandbox allow-same-origin")  # no script, ever


@dataclass(frozen=True)
class Found:
    """One output in the list: its path inside the outputs folder, "/"-separated."""

    name: str
    modified: float

    @property
    def picture(self) -> bool:
        return PurePosixPath(self.name).suffix.lower() in PICTURES


def outputs(folder: Path) -> list[Found]:
    """Every output a comparison can show, newest first; hidden files, links, the ledger and the comparisons
    made here (their thumbnails are pictures too) are left out."""
    found: list[Found] = []
    stack = [(folder, "")]
    while stack:
        here, prefix = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name.startswith(LEDGER):
                continue
            if entry.is_dir(follow_symlinks=False):
                if prefix or entry.name != COMPARISONS:
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in MEDIA:
                try:
                    found.append(Found(prefix + entry.name, entry.stat(follow_symlinks=False).st_mtime))
                except OSError:
                    continue
    return sorted(found, key=lambda f: (-f.modified, f.name))


def newest(found: list[Found], count: int) -> list[str]:
    """"The last N": the `count` most recent outputs, oldest first, as a contact sheet reads."""
    return [f.name for f in reversed(found[:max(count, 0)])]


def count_of(text: object) -> int:
    """The number typed for "the newest N"; anything else is none."""
    try:
        return max(int(str(text).strip()), 0)
    except ValueError:
        return 0


def served(folder: Path, name: str) -> Path | None:
    """The file `name` (from a URL) means inside the outputs folder, if it may be shown: else None.

    Only outputs and what a comparison wrote; never a path that climbs out, an absolute
    one, a hidden one, or a link that leads outside the folder."""
    if not name or "\x00" in name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".") or part.startswith(".") for part in name.split("/")):
        return None
    suffix = path.suffix.lower()
    if suffix not in MEDIA and not (path.parts[0] == COMPARISONS and suffix in MADE):
        return None
    root = folder.resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    if any(target.with_name(target.name + extra).exists() for extra in (".gz", ".br")):
        return None  # aiohttp would serve that file instead, unchecked
    return target


def from_this_page(headers, key: str, sent: str) -> bool:
    """Whether a POST is the page's own: it carries the key only the page holds, and the browser does not
    say it came from elsewhere. Behind the proxy the gate takes a same-origin Origin away, so an Origin that
    is still here must name this very host (a tunnel to 127.0.0.1), or it is another site's."""
    if not key or not hmac.compare_digest(sent.encode(), key.encode()):
        return False
    if headers.get("Sec-Fetch-Site", "same-origin") != "same-origin":
        return False
    origin = headers.get("Origin")
    return origin is None or urlsplit(origin).netloc.lower() == headers.get("Host", "").lower()


def said(stderr: str, fallback: str) -> str:
    """The message atelier printed (its CLI writes "Error: <message> <hint>"), else `fallback`."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip().startswith("Error: ")]
    return lines[-1].removeprefix("Error: ").strip() if lines else fallback


def new_folder(parent: Path, now: float, taken: set[str] | frozenset[str] = frozenset()) -> Path:
    """comparisons/<date-time>, a new one even for two comparisons within a second (`taken`: names given
    to comparisons that have not made their folder yet)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(now))
    candidate, n = parent / stamp, 1
    while candidate.exists() or candidate.name in taken:
        n += 1
        candidate = parent / f"{stamp}-{n}"
    return candidate


def when(stamp: str) -> str:
    """A comparison's folder name as a person reads it: 2026-11-20_14-30-05 is "2026-11-20 at 14:30:05"."""
    day, _, rest = stamp.partition("_")
    parts = rest.split("-")
    return f"{day} at {':'.join(parts[:3])}" + (f" ({parts[3]})" if len(parts) > 3 else "")


def made_before(folder: Path, most: int = 10) -> list[str]:
    """The comparisons made here that still have their contact sheet, newest first."""
    try:
        stamps = [e.name for e in os.scandir(folder / COMPARISONS) if STAMP.match(e.name) and e.is_dir()]
    except OSError:
        return []
    return [s for s in sorted(stamps, reverse=True) if (folder / COMPARISONS / s / SHEET).is_file()][:most]


def thumbnail(source: Path, cache: Path) -> Path | None:
    """A small JPEG of a picture, made once per version of it."""
    stat = source.stat()
    key = hashlib.sha1(f"{source}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = cache / f"{key}.jpg"
    if target.is_file():
        return target
    from PIL import Image  # ComfyUI's own Pillow

    try:
        with Image.open(source) as picture:
            picture.draft("RGB", (THUMB, THUMB))
            small = picture.convert("RGB")
            small.thumbnail((THUMB, THUMB))
            cache.mkdir(parents=True, exist_ok=True)
            part = cache / f"{key}.{secrets.token_hex(4)}.part"
            small.save(part, "JPEG", quality=80)
            part.replace(target)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return target


# ---- the pages ---------------------------------------------------------------------------------

STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem;
       color: #1b1b1b; background: #fff; }
h1 { margin-top: .5rem; } h2 { margin-top: 2rem; }
.problem { border: 2px solid #a4262c; background: #fde7e9; padding: .75rem 1rem; border-radius: 4px; }
fieldset { border: 1px solid #bbb; border-radius: 4px; padding: .75rem 1rem; margin: 1rem 0; }
button, .button { font: inherit; padding: .45rem 1rem; border: 1px solid #1f4e79; border-radius: 4px;
                  background: #1f4e79; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
input[type=number] { width: 5rem; font: inherit; } input[type=text] { font: inherit; width: 14rem; }
ul.outputs { list-style: none; padding: 0; display: grid; gap: .75rem;
             grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); }
ul.outputs label { display: block; border: 1px solid #bbb; border-radius: 4px; padding: .4rem; cursor: pointer; }
ul.outputs input:checked + .tile { outline: 3px solid #1f4e79; }
.tile { display: block; } .tile img { display: block; max-width: 100%; height: auto; margin: .25rem 0; }
.name { font-size: 13px; word-break: break-all; color: #333; }
.media { display: block; height: 6rem; background: #f1f1f1; text-align: center; line-height: 6rem; color: #444; }
ul.actions { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
iframe { width: 100%; height: 75vh; border: 1px solid #bbb; }
a { color: #1f4e79; } .button { color: #fff; }
"""


def _document(title: str, body: str, head: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{head}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n")


def _link(name: str) -> str:
    return quote(name, safe="/")


def _tile(found: Found, ticked: bool) -> str:
    name = html.escape(found.name)
    if found.picture:
        media = f'<img src="compare/thumb/{_link(found.name)}" alt="" loading="lazy">'
    else:
        media = f'<span class="media">{html.escape(PurePosixPath(found.name).suffix.lstrip(".").upper())}</span>'
    check = " checked" if ticked else ""
    return (f'<li><label><input type="checkbox" name="file" value="{name}"{check}>'
            f'<span class="tile">{media}<span class="name">{name}</span></span></label></li>')


def pick_page(found: list[Found], key: str, earlier: list[str], problem: str = "", picked: set[str] | None = None,
              count: int = 4, by: str = "", vs: str = "", everything: bool = False) -> str:
    """The page a student picks on; after a problem, the same page with their choices kept and the message on top."""
    picked = picked or set()
    parts = ["<h1>Compare your outputs</h1>"]
    if problem:
        parts.append(f'<p class="problem" role="alert">{html.escape(problem)}</p>')
    parts.append("<p>Put outputs side by side: Atelier makes a contact sheet (a grid of the pictures, laid out "
                 "by two settings that differ) and a workbook (one row per output, with every setting). Both "
                 "are saved in your outputs folder, in <strong>comparisons</strong>.</p>")
    if not found:
        parts.append("<p>Your outputs folder has no pictures, videos or sounds yet. Make some in ComfyUI, then "
                     "reload this page.</p>")
    else:
        listed = found if everything else found[:SHOWN]
        more = (f'<p>These are the newest {len(listed)} of {len(found)} outputs. '
                f'<a href="compare?all=1">Show all {len(found)}</a></p>') if len(listed) < len(found) else ""
        tiles = "".join(_tile(f, f.name in picked) for f in listed)
        parts.append(f"""<form method="post" action="compare">
<input type="hidden" name="key" value="{html.escape(key)}">
<fieldset><legend>Compare the newest</legend>
<p><label for="count">How many</label> <input id="count" name="count" type="number" min="1" max="{len(found)}"
 value="{min(max(count, 1), len(found))}"> <button type="submit" name="pick" value="newest">Compare the newest</button></p>
</fieldset>
<details{' open' if by or vs else ''}><summary>Choose the settings across and down</summary>
<p>Without them, Atelier picks the first two settings that differ. Name any setting, such as cfg, seed, steps,
sampler or a box's own setting as box title.setting (KSampler.denoise).</p>
<p><label for="by">Across</label> <input id="by" name="by" type="text" value="{html.escape(by)}">
<label for="vs">Down</label> <input id="vs" name="vs" type="text" value="{html.escape(vs)}"></p>
</details>
<h2>Or tick the ones to compare</h2>
{more}
<ul class="outputs">{tiles}</ul>
<p><button type="submit" name="pick" value="ticked">Compare the ticked ones</button></p>
</form>
<p>A comparison of a handful of outputs takes a few seconds; of hundreds, a minute or two. Keep this tab open
until it is ready.</p>""")
    if earlier:
        items = "".join(f'<li><a href="compare/made/{s}">{html.escape(when(s))}</a></li>' for s in earlier)
        parts.append(f"<h2>Earlier comparisons</h2><ul>{items}</ul>")
    return _document("Compare your outputs", "\n".join(parts))


def making_page(count: int) -> str:
    """While a long comparison runs: the page asks again every two seconds by itself (no script needed)."""
    body = f"""<h1>Making your comparison</h1>
<p><progress aria-label="Making your comparison"></progress></p>
<p>Atelier is putting {count} output{'' if count == 1 else 's'} side by side. This page shows the comparison as
soon as it is ready: it checks again every two seconds by itself. Keep this tab open.</p>"""
    return _document("Making your comparison", body, '<meta http-equiv="refresh" content="2">')


def failed_page(problem: str) -> str:
    """A comparison that stopped after the student was sent on to wait for it."""
    body = f"""<h1>The comparison could not be made</h1>
<p class="problem" role="alert">{html.escape(problem)}</p>
<p><a href="../../compare">Back to your outputs</a></p>"""
    return _document("The comparison could not be made", body)


def made_page(stamp: str) -> str:
    """Where a comparison is, and the buttons to open and download it."""
    base = f"../files/{COMPARISONS}/{stamp}/"
    body = f"""<h1>Your comparison is ready</h1>
<p>It is saved in your outputs folder, in <strong>{COMPARISONS}/{html.escape(stamp)}</strong>: the contact sheet
({SHEET}), the workbook ({WORKBOOK}) and the same table as plain text ({CSV_FILE}).</p>
<ul class="actions">
<li><a class="button" href="{base}{SHEET}">Open the contact sheet</a></li>
<li><a class="button" href="{base}{WORKBOOK}" download>Download the workbook</a></li>
<li><a href="{base}{CSV_FILE}" download>Download the table as CSV</a></li>
<li><a href="../../compare">Compare other outputs</a></li>
</ul>
<iframe src="{base}{SHEET}" title="The contact sheet"></iframe>"""
    return _document("Your comparison is ready", body)


# ---- the routes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a comparison ended: `problem` is empty when it worked, else the message to show."""

    code: int | None  # atelier's exit status; None when it could not run
    problem: str = ""


@dataclass(frozen=True)
class Job:
    """A comparison started from this page: running, or how it ended."""

    task: asyncio.Task
    count: int  # outputs picked


class ComparePage:
    """The routes, for one session's outputs folder."""

    def __init__(self, folder: Path, python: str, failed: str, cache: Path) -> None:
        self.folder, self.python, self.failed, self.cache = folder, python, failed, cache
        self.key = secrets.token_urlsafe(32)  # this process's form key: lives as long as the session
        self.lock = asyncio.Lock()  # one comparison at a time: each uses every core it can
        self.wait = WAIT
        self.jobs: dict[str, Job] = {}  # by folder name: the comparisons started in this session

    @staticmethod
    def _page(text: str, status: int = 200):
        from aiohttp import web

        return web.Response(status=status, text=text, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "same-origin",
                                     "Cache-Control": "no-store"})

    async def _listing(self) -> list[Found]:
        return await asyncio.get_running_loop().run_in_executor(None, outputs, self.folder)

    async def show(self, request):
        found = await self._listing()
        return self._page(pick_page(found, self.key, made_before(self.folder), everything="all" in request.query))

    async def slash(self, request):
        from aiohttp import web

        return web.Response(status=303, headers={"Location": PAGE})  # the proxy prefixes it: see the docstring

    def _command(self, names: list[str], out: Path, by: str, vs: str) -> list[str]:
        command = [self.python, "-m", "atelier", "compare", "--within", str(self.folder), "--out", str(out)]
        command += [f"--by={by}"] if by else []
        command += [f"--vs={vs}"] if vs else []
        return [*command, "--", *names]  # names are never options, whatever they start with

    def _run(self, command: list[str]) -> tuple[int | None, str]:
        try:
            done = subprocess.run(command, check=False, cwd=self.folder, stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=LONGEST)
        except (OSError, subprocess.TimeoutExpired) as err:
            logging.error("atelier compare page: the comparison did not run: %s", err)
            return None, ""
        return done.returncode, done.stderr.decode("utf-8", "replace")

    async def _compare(self, names: list[str], out: Path, by: str, vs: str) -> Outcome:
        code, stderr = None, ""
        try:
            async with self.lock:
                if self.python:
                    code, stderr = await asyncio.get_running_loop().run_in_executor(
                        None, self._run, self._command(names, out, by, vs))
        except Exception:  # a bug here: the student still reads a sentence, the log has the rest
            logging.exception("atelier compare page: the comparison failed")
        if code == 0 and (out / SHEET).is_file():
            logging.info("atelier compare page: compared %d outputs into %s", len(names), out)
            return Outcome(code)
        if out.is_dir() and not (out / SHEET).exists():
            shutil.rmtree(out, ignore_errors=True)  # what a failed comparison left half-made
        problem = said(stderr, self.failed) if code is not None else self.failed
        if problem == self.failed:
            logging.error("atelier compare page: exit code %s; %s", code, stderr.strip()[-2000:])
        return Outcome(code, problem)

    async def make(self, request):
        from aiohttp import web

        form = await request.post()
        if not from_this_page(request.headers, self.key, str(form.get("key", ""))):
            return web.Response(status=403, text="Forbidden")
        found = await self._listing()
        by, vs = (" ".join(str(form.get(k, "")).split())[:200] for k in ("by", "vs"))
        count = count_of(form.get("count", ""))
        if form.get("pick") == "newest":
            names, picked = newest(found, count), set()
        else:
            sent = [str(n) for n in form.getall("file", [])][:MOST_PICKED]
            picked = set(sent)
            # A file removed since the page was shown is left out; anything else goes to atelier, which refuses
            # whatever is outside the folder, with its own message.
            names = [n for n in sent if n and "\x00" not in n and (self.folder / n).exists()]
        out = new_folder(self.folder / COMPARISONS, time.time(), set(self.jobs))
        job = asyncio.ensure_future(self._compare(names, out, by, vs))  # goes on if the browser gives up
        self.jobs[out.name] = Job(job, len(names))
        await asyncio.wait({job}, timeout=self.wait)
        if job.done() and job.result().problem:  # said here, on the page with the student's choices kept
            del self.jobs[out.name]
            outcome = job.result()
            page = pick_page(found, self.key, made_before(self.folder), outcome.problem, picked, count or 4, by, vs,
                             everything=bool(picked - {f.name for f in found[:SHOWN]}))
            return self._page(page, 400 if outcome.code == 2 else 500)
        return web.Response(status=303, headers={"Location": f"{PAGE}/made/{out.name}"})  # prefixed by the proxy

    async def made(self, request):
        from aiohttp import web

        stamp = request.match_info["stamp"]
        job = self.jobs.get(stamp) if STAMP.match(stamp) else None
        if job is not None and not job.task.done():
            return self._page(making_page(job.count))
        if job is not None and job.task.result().problem:
            return self._page(failed_page(job.task.result().problem), 400 if job.task.result().code == 2 else 500)
        if not STAMP.match(stamp) or not (self.folder / COMPARISONS / stamp / SHEET).is_file():
            return web.Response(status=404, text="Not found")
        return self._page(made_page(stamp))

    async def file(self, request):
        from aiohttp import web

        path = served(self.folder, request.match_info["name"])
        if path is None:
            return web.Response(status=404, text="Not found")
        suffix = path.suffix.lower()
        headers = {"Content-Type": MEDIA.get(suffix) or MADE[suffix], "Content-Security-Policy": FILE_CSP,
                   "Referrer-Policy": "same-origin", "Cache-Control": "private, no-cache"}
        if suffix in DOWNLOADS:
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(path.name)}"
        return web.FileResponse(path, headers=headers)

    async def thumb(self, request):
        from aiohttp import web

        path = served(self.folder, request.match_info["name"])
        if path is None or path.suffix.lower() not in PICTURES:
            return web.Response(status=404, text="Not found")
        small = await asyncio.get_running_loop().run_in_executor(None, thumbnail, path, self.cache)
        if small is None:
            return web.Response(status=404, text="Not found")
        return web.FileResponse(small, headers={"Content-Type": "image/jpeg", "Content-Security-Policy": FILE_CSP,
                                                "Cache-Control": "private, max-age=86400"})


def add_routes(routes, page: ComparePage) -> None:
    """The page's routes, on an aiohttp RouteTableDef."""
    routes.get(PAGE)(page.show)
    routes.post(PAGE)(page.make)
    routes.get(PAGE + "/")(page.slash)
    routes.get(PAGE + "/made/{stamp}")(page.made)
    routes.get(PAGE + "/files/{name:.+}")(page.file)
    routes.get(PAGE + "/thumb/{name:.+}")(page.thumb)


def _install() -> None:
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return  # imported by atelier's tests, not by ComfyUI
    import folder_paths  # ComfyUI's own

    folder = Path(os.environ.get("ATELIER_OUTPUTS") or folder_paths.get_output_directory()).resolve()
    cache = Path(folder_paths.get_temp_directory() or tempfile.gettempdir()) / "atelier-compare-thumbs"
    page = ComparePage(folder, os.environ.get("ATELIER_PYTHON", ""), os.environ.get("ATELIER_COMPARE_FAILED")
                       or FALLBACK, cache)
    add_routes(instance.routes, page)  # ComfyUI adds them to its app, and again under /api
    if not page.python:
        logging.error("atelier compare page: ATELIER_PYTHON is not set, so comparisons cannot be made")


_install()
