"""Start here, followed to the letter in a browser: the steps are read from the pages themselves.

Each step's bold words are the labels the student looks for, and the walkthrough finds
and uses exactly those. Reword a step, or let ComfyUI rename a button, and the tests that
use it (directly against ComfyUI, and through Open OnDemand's proxy) fail until page and
screen agree again.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from atelier.lessons.modules import load_module

ROOT = Path(__file__).resolve().parent.parent
LESSON = load_module(ROOT / "workflows" / "txt2img-basics")


def steps(page: str, section: str) -> list[str]:
    """The numbered steps under one heading of a Start here page, each on one line."""
    text = (ROOT / "docs" / "start" / page).read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return [" ".join(item.split()) for item in re.split(r"^\d+\. ", body, flags=re.MULTILINE)[1:]]


def bold(step: str) -> list[str]:
    return re.findall(r"\*\*(.+?)\*\*", step)


def node_titles(page: Page) -> list[str]:
    return sorted(page.evaluate("window.app.graph._nodes.map(n => n.title)"))


def wait_for_comfyui(page: Page) -> None:
    """The tour's first view: ComfyUI's example on the canvas, no template gallery over it."""
    page.wait_for_function("window.app && window.app.graph && window.app.graph._nodes.length > 0", timeout=120_000)
    expect(page.get_by_text("Get Started with a Template")).to_have_count(0)


def open_the_lesson(page: Page) -> None:
    """A tour of ComfyUI → Open the lesson, as the page says."""
    tour = steps("tour.md", "Open the lesson")
    assert bold(tour[0]) == ["Workflows"] and "on the left" in tour[0]
    workflows = page.get_by_role("button", name=re.compile(rf"^{bold(tour[0])[0]}\b"))
    assert workflows.bounding_box()["x"] < 100  # the column of icons on the left edge
    workflows.click()
    browse, lesson = bold(tour[1])
    expect(page.get_by_text(browse, exact=True)).to_be_visible()
    page.get_by_text(lesson, exact=True).click()
    page.wait_for_function("t => window.app.graph._nodes.some(n => n.title === t)", arg="Positive prompt")
    titles = node_titles(page)
    assert len(titles) == len(LESSON.nodes()) and {n["title"] for n in LESSON.nodes() if n.get("title")} <= set(titles)
    assert "again to close the panel" in tour[2]
    workflows.click()
    expect(page.get_by_text(browse, exact=True)).to_have_count(0)


def open_saved(page: Page, name: str) -> None:
    """Open a workflow the student saved, from the Workflows panel on the left."""
    workflows = page.get_by_role("button", name=re.compile(r"^Workflows\b"))
    workflows.click()
    page.get_by_text(name, exact=True).click()
    page.wait_for_function("t => window.app.graph._nodes.some(n => n.title === t)", arg="Positive prompt")
    workflows.click()


def make_a_picture(page: Page, output_dir: Path) -> None:
    """Your first image → Make a picture, then the file where Save and download says it is."""
    # Your first image → Make a picture
    first = steps("first-image.md", "Make a picture")
    assert bold(first[0]) == ["Positive prompt"] and bold(first[0])[0] in node_titles(page)
    assert bold(first[1]) == ["Run"]
    run = page.get_by_role("button", name=bold(first[1])[0], exact=True)
    assert run.bounding_box()["x"] > 900  # "in the top-right corner", as the tour says
    run.click()
    assert bold(first[2]) == ["KSampler"] and "KSampler" in node_titles(page)
    save_image = bold(first[3])[0]
    assert save_image == "Save Image" and "appears in the" in first[3]
    page.wait_for_function(
        "t => (window.app.graph._nodes.find(n => n.title === t).imgs || []).length > 0", arg=save_image, timeout=570_000
    )
    width = page.evaluate("t => window.app.graph._nodes.find(n => n.title === t).imgs[0].naturalWidth", save_image)
    assert width == 512

    # Save and download: "already saved in your folder", with the names the page gives.
    assert "`txt2img_00001_.png`" in (ROOT / "docs" / "start" / "save.md").read_text(encoding="utf-8")
    assert (output_dir / "atelier" / "txt2img_00001_.png").is_file()
