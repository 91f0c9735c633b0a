"""Start here, followed to the letter in a browser against a real ComfyUI, up to the first image.

The steps are read from the pages (tests/walkthrough.py); tests/ood does the same through
Open OnDemand's own proxy, from the session card's button.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page

from atelier.comfy.server import LOGIN, ComfyServer
from tests.comfyui_env import comfyui_from_env
from tests.walkthrough import LESSON, make_a_picture, open_the_lesson, wait_for_comfyui


@pytest.fixture()
def session(tmp_path: Path, tiny_store: Path) -> Iterator[ComfyServer]:
    """A session as the launch form makes it: the lesson chosen in the form is offered."""
    checkout, python = comfyui_from_env()
    server = ComfyServer(
        checkout, python, tmp_path / "session", cpu=True, models=tiny_store, outputs=tmp_path / "atelier-outputs"
    )
    server.offer_workflow(LESSON)
    with server:
        yield server


def test_a_student_follows_start_here_to_the_first_image(session: ComfyServer, page: Page) -> None:
    hosts: set[str] = set()

    def note(url: str) -> None:
        if urlparse(url).scheme not in ("blob", "data"):  # made inside the page itself
            hosts.add(urlparse(url).hostname or url)

    page.on("request", lambda request: note(request.url))
    page.set_viewport_size({"width": 1280, "height": 800})
    # "Press Open ComfyUI": the dashboard's button posts this session's key to the gate.
    page.goto(f"{session.url}{LOGIN}")
    page.fill("#token", session.token)
    page.click("button[type=submit]")
    wait_for_comfyui(page)
    open_the_lesson(page)
    make_a_picture(page, session.output_dir)
    assert hosts == {"127.0.0.1"}, f"the browser asked other hosts: {hosts - {'127.0.0.1'}}"
