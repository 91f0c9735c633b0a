"""A student makes a picture with each tool beside ComfyUI, in Chromium through the gate; it is in
their outputs folder and in `atelier ledger`; what InvokeAI keeps comes back in the next session.

The models are random-weight test models: the pictures are noise.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from atelier.comfy.server import LOGIN
from atelier.keep.ledger import LEDGER
from tests.tools.conftest import atelier, start_session
from tests.tools.pictures import invoke_picture, remove_background, sample_photo

# The first test here installs both tools from the package index (the session's fixture): minutes.
pytestmark = pytest.mark.timeout(1800)


def _open(page: Page, url: str, token: str) -> None:
    page.goto(url + LOGIN)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _ledger(folder: Path) -> list[sqlite3.Row]:
    done = atelier("ledger", "scan", str(folder))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(folder / LEDGER) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM outputs ORDER BY file").fetchall()


def test_invokeai_makes_a_picture_that_the_ledger_reads(sessions, page: Page) -> None:
    session = sessions("invokeai")
    _open(page, session.url, session.token)
    name = invoke_picture(page, "a fox in the snow")
    pictures = list((session.outputs / "invokeai" / "images").glob("*.png"))
    assert [picture.name for picture in pictures] == [name]
    rows = {row["file"]: row for row in _ledger(session.outputs)}
    row = rows[f"invokeai/images/{name}"]
    assert row["status"] == "ok" and row["positive"] == "a fox in the snow" and row["seed"].isdigit()
    assert row["steps"] == 2 and row["width"] == 256 and row["model"] == "stable-diffusion-v1-5-test"
    assert not [name for name in rows if "thumbnails" in name or "tensors" in name]  # previews and scratch are not work


def test_the_background_remover_saves_each_cut_out_in_the_outputs_folder(sessions, page: Page, tmp_path: Path) -> None:
    session = sessions("rembg")
    _open(page, session.url, session.token)
    outside = []
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith((session.url, "data:", "blob:")) else None
    )
    remove_background(page, sample_photo(tmp_path / "disc.png"))
    for _ in range(50):  # the page flags the result once it has shown it
        saved = sorted((session.outputs / "rembg").rglob("*.webp"))
        if saved:
            break
        page.wait_for_timeout(200)
    assert saved, list((session.outputs / "rembg").rglob("*"))
    files = {row["file"]: row for row in _ledger(session.outputs)}
    assert saved[0].relative_to(session.outputs).as_posix() in files
    assert all(not url.startswith("http") for url in outside), outside  # fonts and scripts from the web: refused


def test_invokeai_keeps_the_students_gallery_between_sessions(
    tool_store: Path, tool_env: dict, tmp_path: Path, page: Page
) -> None:
    folder, outputs = tmp_path / "student", tmp_path / "outputs"
    first = start_session(
        "invokeai", tmp_path / "one", tool_store, tool_env, "--user-folder", str(folder), outputs=outputs
    )
    try:
        _open(page, first.url, first.token)
        kept = invoke_picture(page, "kept")
    finally:
        first.stop()
    assert (folder / "invokeai" / "databases" / "invokeai.db").is_file()
    second = start_session(
        "invokeai", tmp_path / "two", tool_store, tool_env, "--user-folder", str(folder), outputs=outputs
    )
    try:
        _open(page, second.url, second.token)
        gallery = page.locator("img[src*='api/v1/images/i/'][src$='/thumbnail']")
        expect(gallery).to_have_count(1, timeout=60_000)  # the gallery, as the student sees it
        assert kept in gallery.first.get_attribute("src")
    finally:
        second.stop()
