"""An instructor builds a class wall from the dashboard: Chromium, the Class wall app under Phusion Passenger.

The app is deployed by `ood.deploy_classwall` and started by Debian's Passenger the way
Open OnDemand's per-user nginx starts it: passenger_wsgi.py under the system Python, which
hands over to atelier's own. Passenger standalone mounts it at /, where OOD mounts it at
/pun/sys/classwall; the app takes its path from the site file, so the same addresses work.
"""

from __future__ import annotations

import dataclasses
import http.client
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect
import pytest
import yaml

from atelier.hpc import ood
from atelier.hpc.profiles import load_profile
from atelier.keep import classwall
from atelier.lessons.modules import all_modules
from tests.conftest import free_port
from tests.unit.test_compare_class import make_course

ROOT = Path(__file__).resolve().parents[2]
PASSENGER = shutil.which("passenger")
SYSTEM_PYTHON = Path("/usr/bin/python3")  # what OOD's nginx_stage gives Passenger's Python apps
pytestmark = pytest.mark.skipif(not PASSENGER or not SYSTEM_PYTHON.exists(),
                                reason="Phusion Passenger not installed: ./dev test as root installs Debian's passenger")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ROWS = "table.wall tbody th[scope=row]"


@dataclasses.dataclass
class App:
    url: str  # the app's first page
    port: int
    home: Path  # the instructor's home
    course: Path


@pytest.fixture(scope="module")
def classwall_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("classwall-app")
    home = folder / "home"
    course = make_course(home / "Painting 101")
    port = free_port()
    profile = dataclasses.replace(load_profile("local"), ondemand_url=f"http://127.0.0.1:{port}")
    # Passenger gives the app the real HOME of the user it runs as: the instructor's folders are named outright.
    app, site_file = ood.deploy_classwall(folder / "apps" / "classwall", folder / "config" / "atelier.json",
                                          [profile], all_modules(ROOT / "workflows"), (str(home),),
                                          app=ROOT / ood.CLASSWALL_APP, walls=str(home / "atelier-class-walls"))
    log = folder / "passenger.log"
    server = subprocess.Popen(
        [PASSENGER, "start", "--engine", "builtin", "--app-type", "wsgi", "--startup-file", "passenger_wsgi.py",
         "--address", "127.0.0.1", "--port", str(port), "--python", str(SYSTEM_PYTHON), "--environment", "production",
         "--disable-security-update-check", "--disable-anonymous-telemetry",  # nothing leaves the machine
         "--pid-file", str(folder / "passenger.pid"), "--log-file", str(log),
         "--envvar", f"ATELIER_SITE_FILE={site_file}"],
        cwd=app, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/pun/sys/classwall/"
    try:
        for _ in range(300):  # Passenger starts in about 2 s, and the app on its first request
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, log.read_text() if log.exists() else "passenger exited"
            time.sleep(0.1)
        with urlopen(url, timeout=60) as first:
            assert first.status == 200
        yield App(url, port, home, course)
    finally:
        server.terminate()
        server.wait(timeout=30)


def local_only(context: BrowserContext) -> list[str]:
    hosts: list[str] = []
    context.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
    return hosts


@pytest.fixture
def page(classwall_app: App, context: BrowserContext) -> Iterator[Page]:
    """The instructor's browser: every request kept to this machine."""
    (classwall_app.course / classwall.SHOW_NAMES).unlink(missing_ok=True)
    hosts = local_only(context)
    page = context.new_page()
    yield page
    assert set(hosts) == {"127.0.0.1"}, hosts


def build(page: Page, app: App) -> None:
    page.goto(app.url)
    page.get_by_role("radio", name=str(app.course)).check()
    page.get_by_role("button", name="Build the class wall").click()
    expect(page).to_have_title("Class wall: Painting 101")


def every_picture_loads(page: Page) -> None:
    pictures = page.locator("table.wall img")
    assert pictures.count() == 8
    for n in range(pictures.count()):  # lazy pictures load as they come into view, as they do for a reader
        picture = pictures.nth(n)
        picture.scroll_into_view_if_needed()
        picture.evaluate("img => img.decode()")
        assert picture.evaluate("img => img.complete && img.naturalWidth") == 64, picture.get_attribute("alt")


def test_the_dashboard_lists_the_app_as_the_teach_page_names_it() -> None:
    manifest = yaml.safe_load((ROOT / ood.CLASSWALL_APP / "manifest.yml").read_text())
    review = (ROOT / "docs" / "teach" / "review.md").read_text(encoding="utf-8")
    assert f"**{manifest['category']}**" in review and f"**{manifest['name']}**" in review


def test_an_instructor_builds_the_wall_and_sees_initials_and_every_picture(classwall_app: App, page: Page) -> None:
    page.goto(classwall_app.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Class wall")
    assert Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}}).violations_count == 0
    build(page, classwall_app)
    assert page.locator(ROWS).all_inner_texts() == ["A.", "B.", "C.", "D."]
    shown = page.locator("body").inner_text()
    assert not any(name in shown.split() for name in ("ana", "ben", "cleo", "dara")), shown
    every_picture_loads(page)
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert result.violations_count == 0, result.generate_report()
    with page.expect_response(lambda r: r.url.endswith("first_00001_.png")) as full:
        page.locator("table.wall tbody tr").nth(0).locator("a").first.click()
    assert full.value.status == 200 and full.value.headers["content-type"] == "image/png"
    page.go_back()
    page.go_back()
    expect(page.get_by_role("link", name=str(classwall_app.course))).to_be_visible()  # under Walls you built


def test_a_student_on_the_show_names_list_is_named(classwall_app: App, page: Page) -> None:
    (classwall_app.course / classwall.SHOW_NAMES).write_text("ben\n")
    build(page, classwall_app)
    assert page.locator(ROWS).all_inner_texts() == ["A.", "ben", "C.", "D."]


def test_a_path_out_of_the_wall_is_refused(classwall_app: App, page: Page) -> None:
    build(page, classwall_app)
    wall = urlsplit(page.url).path
    climb = wall.rsplit("/", 1)[0] + "/../../../../../../../../etc/passwd"
    connection = http.client.HTTPConnection("127.0.0.1", classwall_app.port, timeout=30)
    connection.request("GET", climb)  # as typed: no browser tidies the dots away first
    answer = connection.getresponse()
    body = answer.read().decode()
    assert answer.status in (400, 403, 404) and "root:" not in body, (answer.status, body)
    page.goto(classwall_app.url + "files/etc/passwd")
    expect(page.get_by_role("alert")).to_contain_text("The Class wall app shows only the files of a wall you built")
    assert "root:" not in page.content() and "Traceback" not in page.content()
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert result.violations_count == 0, result.generate_report()


def test_the_app_is_usable_on_a_phone_390_px_wide(classwall_app: App, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    hosts = local_only(context)
    page = context.new_page()
    page.goto(classwall_app.url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the form does not scroll sideways
    for control in (page.get_by_role("radio", name=str(classwall_app.course)), page.get_by_role("textbox"),
                    page.get_by_role("button", name="Build the class wall")):
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 16, box
    build(page, classwall_app)
    every_picture_loads(page)
    page.evaluate("window.scrollTo(document.documentElement.scrollWidth, 0)")  # across a wide wall
    for name in page.locator(ROWS).all():
        box = name.bounding_box()
        assert box and box["x"] >= -1 and box["x"] + box["width"] <= 391, box  # the names stay in view
    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert result.violations_count == 0, result.generate_report()
    context.close()
    assert set(hosts) == {"127.0.0.1"}, hosts
