"""The Compare page: a student picks outputs in the browser and gets the contact sheet and workbook.

Students never open a terminal, so `atelier compare` is offered inside their ComfyUI
session, from an entry in ComfyUI's menu (web/compare.js):

* GET  atelier/compare lists the outputs folder, newest first, a thumbnail and a
  checkbox each, and a "compare the newest N" choice;
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
command says nothing comes from the same message catalogue, in ATELIER_COMPARE_FAILED. This
file holds the routes; folder.py decides what of the outputs folder is listed and
served, pages.py writes the HTML. ComfyUI loads this folder as a package, so they are
imported relatively, and they too import nothing of atelier's.

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
import hmac
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from .folder import (
    COMPARISONS,
    MADE,
    MEDIA,
    PICTURES,
    SHEET,
    STAMP,
    Found,
    made_before,
    new_folder,
    newest,
    outputs,
    served,
    thumbnail,
)
from .pages import SHOWN, failed_page, made_page, making_page, pick_page

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "web"  # compare.js: the entry in ComfyUI's menu

PAGE = "/atelier/compare"
DOWNLOADS = {".xlsx", ".csv", ".glb"}
MOST_PICKED = 2000
LONGEST = 900  # seconds a comparison may take before it is stopped
# Seconds a POST waits for the comparison: long enough for atelier to start and refuse a wrong pick (said on
# the page, the ticks kept), short enough that a long one shows a progress bar on a page that asks again,
# rather than a browser that spins until a proxy in between gives up on the request.
WAIT = 6.0
FALLBACK = (
    "The comparison could not be made: the program that makes it stopped without saying why. "
    "Reload the Compare page and try again."
)  # only when ComfyServer did not pass the message catalogue's
PAGE_CSP = (
    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
FILE_CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox allow-same-origin"
)  # no script, ever


def count_of(text: object) -> int:
    """The number typed for "the newest N"; anything else is none."""
    try:
        return max(int(str(text).strip()), 0)
    except ValueError:
        return 0


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

        return web.Response(
            status=status,
            text=text,
            content_type="text/html",
            charset="utf-8",
            headers={
                "Content-Security-Policy": PAGE_CSP,
                "Referrer-Policy": "same-origin",
                "Cache-Control": "no-store",
            },
        )

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
            done = subprocess.run(
                command, check=False, cwd=self.folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=LONGEST
            )
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
                        None, self._run, self._command(names, out, by, vs)
                    )
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
            page = pick_page(
                found,
                self.key,
                made_before(self.folder),
                outcome.problem,
                picked,
                count or 4,
                by,
                vs,
                everything=bool(picked - {f.name for f in found[:SHOWN]}),
            )
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
        headers = {
            "Content-Type": MEDIA.get(suffix) or MADE[suffix],
            "Content-Security-Policy": FILE_CSP,
            "Referrer-Policy": "same-origin",
            "Cache-Control": "private, no-cache",
        }
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
        return web.FileResponse(
            small,
            headers={
                "Content-Type": "image/jpeg",
                "Content-Security-Policy": FILE_CSP,
                "Cache-Control": "private, max-age=86400",
            },
        )


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
    page = ComparePage(
        folder, os.environ.get("ATELIER_PYTHON", ""), os.environ.get("ATELIER_COMPARE_FAILED") or FALLBACK, cache
    )
    add_routes(instance.routes, page)  # ComfyUI adds them to its app, and again under /api
    if not page.python:
        logging.error("atelier compare page: ATELIER_PYTHON is not set, so comparisons cannot be made")


_install()
