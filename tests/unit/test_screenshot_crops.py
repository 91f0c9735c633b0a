"""Start here at phone width: a marked screenshot comes with its crop, and the page shows the crop at 390 px."""

from __future__ import annotations

import re
from pathlib import Path

import markdown
import yaml

from atelier.site import screenshots_marks as marks
from atelier.site.pages import lessons
from atelier.site.pages import start as startpages

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "assets" / "screenshots"
CSS = re.sub(r"/\*.*?\*/", "", (ROOT / "docs" / "assets" / "atelier.css").read_text(encoding="utf-8"), flags=re.DOTALL)
PHONE = 390


def _html(name: str, folder: Path = SHOTS) -> str:
    """The tour picture as the start page's Markdown renders it (the site's own extensions)."""
    return markdown.markdown(startpages.screenshot(name, folder), extensions=["attr_list", "md_in_html"])


def _media_rules(width: int) -> str:
    """The CSS that applies at viewport `width`: the rules outside media queries and in those that match it."""
    shown = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", CSS)
    for query, body in re.findall(r"@media([^{]*)\{((?:[^{}]*\{[^{}]*\})*)\s*\}", CSS):
        limit = re.search(r"max-width:\s*(\d+)px", query)
        if limit and width <= int(limit.group(1)) and "min-width" not in query:
            shown += body
    return shown


def _display(selector: str, width: int) -> str | None:
    """The last `display` the CSS gives `selector` at viewport `width` (None: the browser's own)."""
    found = None
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", _media_rules(width)):
        if selector in [s.strip() for s in selectors.split(",")]:
            value = re.search(r"display:\s*([\w-]+)", body)
            found = value.group(1) if value else found
    return found


def test_every_marked_picture_has_a_crop_with_alt_text_that_names_its_marks() -> None:
    manifest = yaml.safe_load((SHOTS / "screenshots.yml").read_text(encoding="utf-8"))
    assert set(manifest["marks"]) == set(marks.MARKS)
    for name, entry in manifest["marks"].items():
        crop = marks.crop_name(name)
        assert (SHOTS / crop).is_file(), crop
        assert [m["number"] for m in entry["marks"]] == list(range(1, len(marks.MARKS[name]) + 1))
        for mark in entry["marks"]:
            assert f"({mark['number']}) '{mark['label']}'" in manifest["screenshots"][crop], crop
            assert f"({mark['number']}) '{mark['label']}'" in manifest["screenshots"][name], name


def test_a_start_page_shows_the_crop_at_phone_width_and_the_whole_window_on_a_wide_screen() -> None:
    for name in ("tour-canvas", "tour-workflows", "tour-run", "first-image-done", "saved-next-session"):
        html = _html(name)
        images = re.findall(r"<img [^>]*>", html)
        assert len(images) == 2, html
        wide, narrow = images
        assert f'src="../assets/screenshots/{name}.png"' in wide and 'class="atelier-shot-wide"' in wide
        assert f'src="../assets/screenshots/{name}-crop.png"' in narrow and 'class="atelier-shot-narrow"' in narrow
        assert all('loading="lazy"' in image and re.search(r'alt="[^"]{20,}"', image) for image in images)
    img = ".md-typeset img"
    assert (_display(f"{img}.atelier-shot-wide", PHONE), _display(f"{img}.atelier-shot-narrow", PHONE)) == (
        "none",
        "inline",
    )
    assert (_display(f"{img}.atelier-shot-wide", 1280), _display(f"{img}.atelier-shot-narrow", 1280)) == (None, "none")


def test_the_crop_is_sharp_at_phone_width() -> None:
    """At most twice a phone's width in pixels, made at twice the scale: shown at 390 px, its words keep their size."""
    from PIL import Image

    manifest = yaml.safe_load((SHOTS / "screenshots.yml").read_text(encoding="utf-8"))
    for name, entry in manifest["marks"].items():
        with Image.open(SHOTS / marks.crop_name(name)) as crop:
            widest = max(r[2] for r in entry["crop"]["regions"])
            assert abs(crop.width - widest * marks.CROP_SCALE) <= 2, name  # the clip is cut at whole pixels
            assert crop.width <= 2 * PHONE, name


def test_a_picture_without_a_crop_is_shown_alone_as_before(tmp_path: Path) -> None:
    (tmp_path / "tour-canvas.png").write_bytes((SHOTS / "tour-canvas.png").read_bytes())
    (tmp_path / "tour-canvas-crop.png").write_bytes((SHOTS / "tour-canvas-crop.png").read_bytes())
    (tmp_path / "screenshots.yml").write_text(yaml.safe_dump({"screenshots": {"tour-canvas.png": "The window."}}))
    assert (
        lessons.screenshot_image(tmp_path, "tour-canvas.png") == "![The window.](../assets/screenshots/tour-canvas.png)"
    )


def test_a_test_models_picture_is_called_noise_under_it_and_a_real_ones_is_not(tmp_path: Path) -> None:
    note = _html("first-image-done")
    assert f"<em>{marks.TEST_LABEL}</em>" in note and "test model" in note
    assert "screenshot is noise" not in _html("tour-run")
    manifest = yaml.safe_load((SHOTS / "screenshots.yml").read_text(encoding="utf-8"))
    del manifest["marks"]["first-image-done.png"]["test_model_label"]  # as `--models` writes it
    for name in ("first-image-done.png", "first-image-done-crop.png"):
        (tmp_path / name).write_bytes((SHOTS / name).read_bytes())
    (tmp_path / "screenshots.yml").write_text(yaml.safe_dump(manifest))
    assert "screenshot is noise" not in _html("first-image-done", tmp_path)
