"""The Compare page in a real ComfyUI behind its gate: a student picks outputs in Chromium and gets the
contact sheet and workbook, saved in their outputs folder, without a terminal.

The steps are Start here's (Compare your variations), read from the page as tests/walkthrough.py
does. One test goes through a stand-in for Open OnDemand's proxy, which serves the session under
/rnode/<host>/<port>/ and prefixes any Location that starts with "/", as the real one does.
"""

from __future__ import annotations

import http.client
import http.server
import os
import re
import shutil
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from atelier.comfy.extensions.atelier_compare.pages import when
from atelier.comfy.extensions.atelier_gate import COOKIE, session_cookie
from atelier.comfy.server import LOGIN, ComfyServer
from atelier.messages import AtelierError
from tests.comfyui.test_gate import request
from tests.comfyui_env import comfyui_from_env
from tests.conftest import free_port
from tests.walkthrough import bold, steps, wait_for_comfyui

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "outputs"
PICTURES = [f"atelier/txt2img_0000{n}_.png" for n in (1, 2, 3, 4)]  # seed 1: CFG 4, 8; seed 2: CFG 4, 8
STAMP = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:-\d+)?"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    """A session whose outputs folder holds four real ComfyUI pictures (txt2img_00004_ the newest), a file
    that is no output, and a link to a picture outside it."""
    checkout, python = comfyui_from_env()
    root = tmp_path_factory.mktemp("compare-page")
    outputs = root / "atelier outputs"  # a space, as people name folders
    shutil.copytree(FIXTURES / "txt2img", outputs)
    for age, name in enumerate(reversed(PICTURES)):
        os.utime(outputs / name, (1_700_000_000 - age * 60,) * 2)
    shutil.copy(FIXTURES / "broken" / "notes.txt", outputs / "notes.txt")
    shutil.copy(outputs / PICTURES[0], root / "secret.png")
    (outputs / "elsewhere.png").symlink_to(root / "secret.png")
    with ComfyServer(checkout, python, root / "session", cpu=True, outputs=outputs) as server:
        yield server


def cookie(server: ComfyServer) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={session_cookie(server.token)}"}


def log_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}{LOGIN}")
    page.fill("#token", token)
    page.click("button[type=submit]")


def comparisons(server: ComfyServer) -> set[str]:
    folder = server.output_dir / "comparisons"
    return {p.name for p in folder.iterdir()} if folder.is_dir() else set()


def shows_every_picture(page: Page) -> list[int]:
    """The natural width of every picture on the page, once each has loaded (0: it did not)."""
    page.wait_for_function("[...document.images].every(i => i.complete)")
    return page.evaluate("[...document.images].map(i => i.naturalWidth)")


WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}


def accessible(page: Page) -> None:
    result = Axe().run(page, options=WCAG)
    assert result.violations_count == 0, result.generate_report()


def test_a_student_compares_two_outputs_from_comfyuis_menu(session: ComfyServer, page: Page, tmp_path: Path) -> None:
    make = steps("compare.md", "Make a comparison")
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, session.url, session.token)
    wait_for_comfyui(page)

    # 1. the ComfyUI logo in the top-left corner, then Compare outputs: a new tab
    logo_label, entry = bold(make[0])
    assert "top-left corner" in make[0] and "new tab" in make[0]
    logo = page.get_by_alt_text(logo_label, exact=False)
    box = logo.bounding_box()
    assert box["x"] < 60 and box["y"] < 60
    logo.click()
    with page.context.expect_page() as opened:
        page.get_by_role("menuitem", name=entry).click()
    compare = opened.value
    problems: list[str] = []  # a CSP that blocks the page's own pictures or styles says so here
    compare.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    compare.wait_for_load_state()
    assert compare.url == f"{session.url}/atelier/compare"
    expect(compare.get_by_role("heading", name="Compare your outputs")).to_be_visible()
    listed = compare.locator("input[name=file]")
    assert [listed.nth(n).get_attribute("value") for n in range(listed.count())] == PICTURES[::-1]  # newest first
    assert shows_every_picture(compare) == [64] * 4  # the thumbnails, made by ComfyUI's Pillow
    accessible(compare)

    # 2. tick two, press Compare the ticked ones
    ticked, how_many, newest = bold(make[1])
    expect(compare.get_by_label(how_many)).to_be_visible()
    expect(compare.get_by_role("button", name=newest)).to_be_visible()
    for name in (PICTURES[0], PICTURES[3]):
        compare.get_by_label(name).check()
    before = comparisons(session)
    compare.get_by_role("button", name=ticked).click()

    # 3. Your comparison is ready: the contact sheet shows both pictures
    ready, open_sheet = bold(make[2])
    expect(compare.get_by_role("heading", name=ready)).to_be_visible(timeout=120_000)
    stamp = re.fullmatch(rf"{re.escape(session.url)}/atelier/compare/made/({STAMP})", compare.url).group(1)
    assert comparisons(session) - before == {stamp}
    saved = session.output_dir / "comparisons" / stamp
    assert {p.name for p in saved.iterdir()} == {"contact-sheet.html", "comparison.xlsx", "comparison.csv", "thumbs"}
    assert len(list((saved / "thumbs").glob("*.jpg"))) == 2
    assert compare.get_by_text(f"comparisons/{stamp}").is_visible()
    accessible(compare)

    # 4. Download the workbook: the file in the outputs folder, and a workbook with both outputs in it
    download_label, back = bold(make[3])  # and, after step 4, the way back to the list
    with compare.expect_download() as downloading:
        compare.get_by_role("link", name=download_label).click()
    downloaded = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(downloaded)
    assert downloaded.name == "comparison.xlsx" and downloaded.read_bytes() == (saved / "comparison.xlsx").read_bytes()
    book = openpyxl.load_workbook(downloaded, data_only=True)
    rows = list(book["Outputs"].iter_rows(values_only=True))
    assert rows[0][:2] == ("Picture", "File") and "CFG" in rows[0] and "Seed" in rows[0]
    assert sorted(row[1] for row in rows[1:]) == ["txt2img_00001_.png", "txt2img_00004_.png"]
    assert ("Steps", 2) in set(book["Same in all"].iter_rows(min_row=2, values_only=True))

    compare.get_by_role("link", name=open_sheet).click()
    compare.wait_for_load_state()
    assert compare.url == f"{session.url}/atelier/compare/files/comparisons/{stamp}/contact-sheet.html"
    assert compare.title() == "Contact sheet: CFG across, Seed down"
    assert sorted(compare.locator("table.grid .name").all_inner_texts()) == ["txt2img_00001_.png", "txt2img_00004_.png"]
    assert shows_every_picture(compare) == [64, 64]
    # a picture opens full size, from the original file in the outputs folder
    compare.locator("table.grid a").first.click()
    compare.wait_for_load_state()
    assert compare.url == f"{session.url}/atelier/compare/files/{PICTURES[0]}"
    assert compare.evaluate("document.images[0].naturalWidth") == 64
    # The sheet runs no script (its sandbox forbids it): what Chromium reports blocked is Playwright's own probing.
    assert "<script" not in (saved / "contact-sheet.html").read_text(encoding="utf-8")
    assert not [p for p in problems if not p.startswith("Blocked script execution")], problems

    compare.go_back()
    compare.go_back()
    compare.get_by_role("link", name=back).click()
    expect(compare.get_by_role("link", name=when(stamp))).to_be_visible()  # Earlier comparisons


class Proxy(http.server.BaseHTTPRequestHandler):
    """Open OnDemand's proxy, as far as a page can tell: the session under a path of its own, Location
    prefixed when it starts with "/", and X-Forwarded-Host naming the address the browser used."""

    target = 0
    prefix = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        if not self.path.startswith(self.prefix):
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "accept-encoding")}
        headers.update({"Host": f"localhost:{self.target}", "X-Forwarded-Host": self.headers["Host"]})
        upstream = http.client.HTTPConnection("127.0.0.1", self.target, timeout=120)
        upstream.request(self.command, "/" + self.path[len(self.prefix) :], body, headers)
        answer = upstream.getresponse()
        content = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() in ("connection", "transfer-encoding", "content-length"):
                continue
            if key.lower() == "location" and value.startswith("/"):
                value = self.prefix.rstrip("/") + value
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)
        upstream.close()

    do_GET = do_POST = _forward


@pytest.fixture()
def dashboard(session: ComfyServer) -> Iterator[str]:
    """The session's address through the stand-in proxy: http://127.0.0.1:<port>/rnode/<host>/<port>/."""
    prefix = f"/rnode/localhost/{session.port}/"
    handler = type("SessionProxy", (Proxy,), {"target": session.port, "prefix": prefix})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    server.shutdown()


def test_the_page_works_under_the_dashboards_proxy_path(session: ComfyServer, dashboard: str, page: Page) -> None:
    """Every link, form and redirect stays under /rnode/<host>/<port>/; the gate takes the proxy's Origin
    away, and the page's key still lets the form through."""
    log_in(page, dashboard.rstrip("/"), session.token)
    page.goto(f"{dashboard}atelier/compare")
    page.get_by_label("How many").fill("2")
    page.get_by_role("button", name="Compare the newest").click()
    expect(page.get_by_role("heading", name="Your comparison is ready")).to_be_visible(timeout=120_000)
    assert re.fullmatch(rf"{re.escape(dashboard)}atelier/compare/made/{STAMP}", page.url), page.url
    page.get_by_role("link", name="Open the contact sheet").click()
    page.wait_for_load_state()
    assert page.url.startswith(f"{dashboard}atelier/compare/files/comparisons/")
    assert page.locator("table.grid .name").all_inner_texts() == ["txt2img_00003_.png", "txt2img_00004_.png"]
    assert shows_every_picture(page) == [64, 64]
    page.locator("table.grid a").first.click()
    page.wait_for_load_state()
    assert page.url == f"{dashboard}atelier/compare/files/{PICTURES[2]}"
    page.goto(f"{dashboard}atelier/compare/")  # a trailing slash is sent back to the page, relatively
    assert page.url == f"{dashboard}atelier/compare"


ROUTES = [
    ("GET", "/atelier/compare"),
    ("POST", "/atelier/compare"),
    ("GET", "/atelier/compare/made/2026-11-20_14-30-05"),
    ("GET", f"/atelier/compare/files/{PICTURES[0]}"),
    ("GET", f"/atelier/compare/thumb/{PICTURES[0]}"),
    ("GET", f"/api/atelier/compare/files/{PICTURES[0]}"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_without_the_gate_cookie_the_page_and_its_files_are_refused(
    session: ComfyServer, method: str, path: str
) -> None:
    status, body, _ = request(session.url + path, method, b"" if method == "POST" else None)
    assert (status, body) == (403, b"Forbidden")


def _key(server: ComfyServer) -> str:
    status, body, headers = request(f"{server.url}/atelier/compare", headers=cookie(server))
    assert status == 200 and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    return re.search(r'name="key" value="([^"]+)"', body.decode()).group(1)


def _post(server: ComfyServer, fields: list[tuple[str, str]], headers: dict | None = None):
    body = urllib.parse.urlencode(fields).encode()
    return request(
        f"{server.url}/atelier/compare",
        "POST",
        body,
        {**cookie(server), "Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )


def _answer(server: ComfyServer, fields: list[tuple[str, str]]) -> tuple[int, str]:
    """What the student ends up reading: the POST's own page, or (when the comparison took longer than the
    page waits, as on a busy machine) the page it leads to, once that no longer says it is still working."""
    status, body, headers = _post(server, fields)
    if status != 303:
        return status, body.decode()
    url = f"{server.url}/atelier/{headers['Location']}"  # relative to atelier/compare
    for _ in range(600):
        status, body, _ = request(url, headers=cookie(server))
        if b"Making your comparison" not in body:
            return status, body.decode()
        time.sleep(0.2)
    raise AssertionError(f"{url} still says it is making the comparison")


def test_a_path_outside_the_outputs_folder_is_refused_in_plain_words(session: ComfyServer) -> None:
    key, before, outside = _key(session), comparisons(session), session.output_dir.parent / "secret.png"
    for name in ("../secret.png", str(outside), "elsewhere.png"):  # climbing out, absolute, a link that leads out
        status, body = _answer(session, [("key", key), ("pick", "ticked"), ("file", PICTURES[0]), ("file", name)])
        message = str(AtelierError("compare-outside", path=name, folder=session.output_dir))
        assert status == 400 and f'<p class="problem" role="alert">{message}</p>'.replace("'", "&#x27;") in body, (
            name,
            body[:600],
        )
        assert "Traceback" not in body
    status, body = _answer(session, [("key", key), ("pick", "ticked")])
    assert status == 400 and str(AtelierError("compare-none-picked")) in body
    assert comparisons(session) == before  # nothing was written
    for path in ("../secret.png", "elsewhere.png", "%2e%2e/secret.png", "..%2Fsecret.png", "notes.txt"):
        status, _, _ = request(f"{session.url}/atelier/compare/files/{path}", headers=cookie(session))
        assert status in (403, 404), path  # never the file; 403 where aiohttp refuses the path itself
    status, served, headers = request(f"{session.url}/atelier/compare/files/{PICTURES[0]}", headers=cookie(session))
    assert status == 200 and served == (session.output_dir / PICTURES[0]).read_bytes()
    assert headers["Content-Type"] == "image/png" and "sandbox allow-same-origin" in headers["Content-Security-Policy"]
    assert request(f"{session.url}/atelier/compare/made/2026-01-01_00-00-00", headers=cookie(session))[0] == 404


def test_a_post_without_the_pages_key_or_from_elsewhere_makes_nothing(session: ComfyServer) -> None:
    key, before = _key(session), comparisons(session)
    picked = [("pick", "ticked"), ("file", PICTURES[0]), ("file", PICTURES[1])]
    for fields, headers in [
        (picked, {}),  # no key: a form on another page of the university's site
        ([("key", key[:-1] + "x"), *picked], {}),
        ([("key", key), *picked], {"Sec-Fetch-Site": "same-site"}),
        (
            [("key", key), *picked],
            {"Host": f"gpu042.example.edu:{session.port}", "Origin": "https://people.example.edu"},
        ),
    ]:
        assert _post(session, fields, headers)[:2] == (403, b"Forbidden"), headers
    assert comparisons(session) == before
