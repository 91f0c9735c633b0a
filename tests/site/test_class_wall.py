"""A class's wall as an instructor opens it for a crit: a local file in Chromium at 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from atelier.keep.classwall import wall
from atelier.lessons.modules import all_modules
from tests.unit.test_compare_class import ROOT, make_course

WCAG_22_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture
def opened(tmp_path: Path, browser: Browser) -> tuple[Page, list[str], list[str], Path]:
    course = make_course(tmp_path / "Painting 101")
    wall(course, tmp_path / "crit", lessons=all_modules(ROOT / "workflows"))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto((tmp_path / "crit" / "class-wall.html").as_uri())
    return page, requests, problems, course


def test_every_student_has_a_row_and_every_picture_loads(opened: tuple[Page, list[str], list[str], Path]) -> None:
    page, requests, problems, course = opened
    assert page.title() == "Class wall: Painting 101"
    assert page.locator("table.wall tbody th[scope=row]").all_inner_texts() == ["A.", "B.", "C.", "D."]  # initials
    assert page.locator("table.wall tbody tr").count() == 4
    assert (
        page.locator("table.wall tbody tr")
        .nth(3)
        .locator("td.nothing")
        .inner_text()
        .startswith("Nothing to show: 2 files, none with ComfyUI's settings")
    )
    per_student = [page.locator("table.wall tbody tr").nth(n).locator("img").count() for n in range(4)]
    assert per_student == [4, 2, 2, 0]
    pictures = page.locator("table.wall img")
    for n in range(pictures.count()):  # lazy pictures load as they come into view, as they do for a reader
        picture = pictures.nth(n)
        picture.scroll_into_view_if_needed()
        picture.evaluate("img => img.decode()")
        assert picture.evaluate("img => img.complete && img.naturalWidth") == 64, picture.get_attribute("alt")
    assert not problems, problems
    assert all(url.startswith("file://") for url in requests), requests
    page.locator("table.wall tbody tr").nth(0).locator("a").first.click()
    page.wait_for_load_state()
    assert page.url == (course / "ana" / "atelier" / "first_00001_.png").as_uri()


def test_headers_say_lesson_and_knob_value_and_are_readable_at_1280_px(
    opened: tuple[Page, list[str], list[str], Path],
) -> None:
    page = opened[0]
    headers = page.locator("table.wall thead th")
    assert headers.all_inner_texts() == [
        "Student",
        "Your first image",
        "Seeds, steps, cfg and samplers",
        "Seed: 1",
        "Seed: 2",
        "CFG: 4.0",
        "CFG: 8.0",
    ]
    for n in range(headers.count()):
        header = headers.nth(n)
        header.scroll_into_view_if_needed()
        looks = header.evaluate("""th => {
            const style = getComputedStyle(th), box = th.getBoundingClientRect();
            return {size: parseFloat(style.fontSize), clipped: th.scrollWidth > th.clientWidth + 1,
                    visible: box.width > 0 && box.left >= 0 && box.right <= window.innerWidth,
                    colour: style.color};
        }""")
        assert looks["size"] >= 14 and not looks["clipped"] and looks["visible"], (header.inner_text(), looks)
    lesson = headers.nth(1).bounding_box()
    first, second = headers.nth(3).bounding_box(), headers.nth(4).bounding_box()
    assert lesson and first and second
    assert abs(lesson["x"] - first["x"]) < 2 and abs(lesson["x"] + lesson["width"] - second["x"] - second["width"]) < 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # a small class fits without scrolling


def test_wall_passes_wcag_22_a_and_aa(opened: tuple[Page, list[str], list[str], Path]) -> None:
    result = Axe().run(opened[0], options={"runOnly": {"type": "tag", "values": WCAG_22_A_AA}})
    assert result.violations_count == 0, result.generate_report()
