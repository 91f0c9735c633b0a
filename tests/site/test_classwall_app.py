"""An instructor builds a class wall from the dashboard: Chromium, the Class wall app under Phusion Passenger.

The app is deployed by `ood.deploy_classwall` and served as OOD serves it (tests/passenger.py).
"""

from __future__ import annotations

import dataclasses
import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from atelier.hpc import ood
from atelier.hpc.profiles import load_profile
from atelier.keep import classwall
from atelier.lessons.modules import all_modules
from tests.conftest import free_port
from tests.passenger import needs_passenger, passenger_app
from tests.unit.test_compare_class import make_course

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_passenger
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
    app, site_file = ood.deploy_classwall(
        folder / "apps" / "classwall",
        folder / "config" / "atelier.json",
        [profile],
        all_modules(ROOT / "workflows"),
        (str(home),),
        app=ROOT / ood.CLASSWALL_APP,
        walls=str(home / "atelier-class-walls"),
    )
    url = f"http://127.0.0.1:{port}/pun/sys/classwall/"
    with passenger_app(app, port, folder, url, {"ATELIER_SITE_FILE": str(site_file)}):
        yield App(url, port, home, course)


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
    for control in (
        page.get_by_role("radio", name=str(classwall_app.course)),
        page.get_by_role("textbox"),
        page.get_by_role("button", name="Build the class wall"),
    ):
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
