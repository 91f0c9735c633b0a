"""Start here's pictures of the launch form and the session card, remade from OOD's own templates.

What a student checks against the picture: the form has the fields and the Launch button
the page names; the running card has Open ComfyUI and Delete; the queued card says Queued.
The pictures in docs/ are the ones this maker writes, each with its alt text. With
ATELIER_UPDATE_SCREENSHOTS=1 the test writes them into docs/assets/screenshots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from PIL import Image

from atelier.comfy.server import LOGIN
from tests.ood import portal as ood_portal
from tests.ood import screenshots
from tests.ood.conftest import ROOT, SlurmCluster, needs_comfyui, needs_ood
from tests.walkthrough import bold, steps

pytestmark = [
    needs_ood,
    needs_comfyui,
    pytest.mark.skipif(os.geteuid() != 0, reason=ood_portal.NOT_ROOT),
    pytest.mark.skipif(screenshots.skip_reason() is not None, reason=screenshots.skip_reason() or ""),
]
DOCS = ROOT / "docs" / "assets" / "screenshots"
NAMES = ("ood-launch-form", "ood-session-queued", "ood-session-running", "ood-session-completed")


def _buttons(html: str) -> list[str]:
    """The visible words of each <button> (Font Awesome's <i> icons and hidden spans' tags dropped)."""
    return [
        " ".join(re.sub(r"<[^>]+>", " ", inner).split())
        for inner in re.findall(r"<button[^>]*>(.*?)</button>", html, re.S)
    ]


@pytest.mark.timeout(600)
def test_the_form_and_card_pictures_are_remade_from_ood_s_templates(slurm: SlurmCluster, tmp_path: Path) -> None:
    out = DOCS if os.environ.get("ATELIER_UPDATE_SCREENSHOTS") else tmp_path / "out"
    made = screenshots.make(out, slurm, tmp_path / "work")
    pages = made["pages"]

    # The form: the fields Start here's table names, and Launch, as "Press **Launch**" says.
    form = pages["ood-launch-form"]["form_html"]
    press = bold(steps("launch.md", "Fill in the form")[2])[0]
    assert press == pages["ood-launch-form"]["launch"] == "Launch"
    assert f'value="{press}"' in form and 'type="submit"' in form
    for label in ("GPU", "Hours", "Lesson"):
        assert f">{label}</label>" in form

    # The card in each state the page walks through.
    wait = steps("launch.md", "Wait for it to start")
    assert bold(wait[0]) == ["Queued"] and pages["ood-session-queued"]["card_status"] == "Queued"
    running = pages["ood-session-running"]
    assert bold(wait[2]) == ["Running", "Open ComfyUI"] and running["card_status"] == "Running"
    assert "Open ComfyUI" in _buttons(running["html"]) and "Delete" in _buttons(running["html"])
    assert re.search(rf'action="/rnode/[^/"]+/\d+{re.escape(LOGIN)}"', running["html"])
    assert "Delete" in _buttons(pages["ood-session-queued"]["html"])
    assert "Open ComfyUI" not in _buttons(pages["ood-session-queued"]["html"])
    assert pages["ood-session-completed"]["card_status"] == "Completed"

    # Chromium read only the local pages, the stylesheet and its fonts.
    assert made["requested"] and all(url.startswith("file:") for url in made["requested"]), made["requested"]
    assert any(url.endswith("/css/application.css") for url in made["requested"])

    # Each picture as made, and the same set in docs/ with alt text (the running card's names its buttons).
    alts = (yaml.safe_load((DOCS / screenshots.MANIFEST).read_text()) or {}).get(screenshots.KEY, {})["screenshots"]
    for name in NAMES:
        for suffix, width in (("", screenshots.WIDE), ("-390", screenshots.NARROW)):
            file = f"{name}{suffix}.png"
            with Image.open(out / file) as made_picture, Image.open(DOCS / file) as kept:
                assert made_picture.width <= width and kept.size[0] == made_picture.size[0], file
            assert alts[file] == made["alts"][file], file
    assert "Open ComfyUI" in alts["ood-session-running.png"] and "Delete" in alts["ood-session-running.png"]
