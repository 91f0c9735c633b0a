"""The contact sheet as a student opens it: a local file in Chromium, a grid of real ComfyUI outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext

from atelier.keep.compare import compare

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


def test_grid_shows_cfg_across_seed_down_and_opens_full_size(tmp_path: Path, context: BrowserContext) -> None:
    outputs = Path(shutil.copytree(FIXTURES / "txt2img", tmp_path / "my outputs"))  # a space, as people name folders
    compare([outputs], tmp_path / "comparison")
    sheet = (tmp_path / "comparison" / "contact-sheet.html").as_uri()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.goto(sheet)
    assert page.title() == "Contact sheet: CFG across, Seed down"
    assert page.locator("table.grid thead th").all_inner_texts() == ["Seed ↓ · CFG →", "4.0", "8.0"]
    assert page.locator("table.grid tbody th").all_inner_texts() == ["1", "2"]
    cells = page.locator("table.grid tbody td")
    assert cells.count() == 4
    names = [cells.nth(n).locator(".name").inner_text() for n in range(4)]
    assert names == [f"atelier/txt2img_0000{n}_.png" for n in (1, 2, 3, 4)]  # seed 1: cfg 4, 8; seed 2: cfg 4, 8
    for n in range(4):
        assert page.locator("table.grid img").nth(n).evaluate("img => img.complete && img.naturalWidth") == 64
    assert "Model" in page.locator("dl.same").inner_text()
    assert not problems, problems
    assert all(url.startswith("file://") for url in requests), requests
    page.locator("table.grid a").first.click()
    page.wait_for_load_state()
    assert page.url == (outputs / "atelier" / "txt2img_00001_.png").as_uri()


def test_contact_sheet_passes_wcag_22_a_and_aa(tmp_path: Path, context: BrowserContext) -> None:
    outputs = Path(shutil.copytree(FIXTURES, tmp_path / "outputs"))
    compare([outputs / "txt2img", outputs / "broken"], tmp_path / "comparison")
    page = context.new_page()
    page.goto((tmp_path / "comparison" / "contact-sheet.html").as_uri())
    result = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}
    )
    assert result.violations_count == 0, result.generate_report()
