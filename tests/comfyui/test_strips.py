"""`atelier strips` on a real ComfyUI: a picture per Try value, and each one, dropped onto
ComfyUI's canvas, opens the lesson's workflow with that setting."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image
from playwright.sync_api import Page

from atelier.comfy.server import LOGIN, ComfyServer
from atelier.lessons.modules import load_module
from tests.walkthrough import wait_for_comfyui

ROOT = Path(__file__).resolve().parents[2]
LESSON = "txt2img-basics"

DROP = """async ([name, data]) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type: 'image/png'}));
  const canvas = document.querySelector('#graph-canvas') || document.querySelector('canvas');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    canvas.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true, cancelable: true}));
  }
}"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, tiny_store: Path) -> Path:
    out = tmp_path_factory.mktemp("knobs")
    done = subprocess.run(
        [sys.executable, "-m", "atelier", "strips", "--module", LESSON, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "Made the knob strips of 1 lesson on the CPU" in done.stdout and "strips made with test models" in done.stdout
    )
    return out


def test_every_try_value_gets_its_picture_and_the_models_are_named_as_test_ones(made: Path) -> None:
    data = yaml.safe_load((made / f"{LESSON}.yml").read_text())
    assert (data["models"], data["device"]) == ("test", "the CPU") and data["comfyui"]
    module = load_module(ROOT / "workflows" / LESSON)
    assert [(s["node"], s["input"], [str(p["value"]) for p in s["pictures"]]) for s in data["strips"]] == [
        (k.node, k.input, [str(t) for t in k.tries]) for k in module.about.knobs if k.tries
    ]
    seeds = next(s for s in data["strips"] if s["input"] == "seed")
    digests = set()
    for picture in seeds["pictures"]:
        with Image.open(made / picture["file"]) as image:
            digests.add(hashlib.sha256(image.tobytes()).hexdigest())
    assert len(digests) == 3, "three seeds made the same picture"
    widths = next(s for s in data["strips"] if s["input"] == "width")["pictures"]
    assert [(p["width"], p["height"]) for p in widths] == [(192, 192), (192, 128)]  # 512 and 768 wide, 512 high


def _log_in(page: Page, server: ComfyServer) -> None:
    page.goto(f"{server.url}{LOGIN}")
    page.fill("#token", server.token or "")
    page.click("button[type=submit]")
    wait_for_comfyui(page)


@pytest.mark.parametrize(("node", "input_name", "index"), [("KSampler", "seed", 1), ("Image size", "width", 1)])
def test_a_strip_picture_dropped_on_the_canvas_opens_with_its_setting(
    made: Path, comfy_models: ComfyServer, page: Page, node: str, input_name: str, index: int
) -> None:
    data = yaml.safe_load((made / f"{LESSON}.yml").read_text())
    picture = next(s for s in data["strips"] if (s["node"], s["input"]) == (node, input_name))["pictures"][index]
    _log_in(page, comfy_models)
    path = made / picture["file"]
    page.evaluate(DROP, [path.name, base64.b64encode(path.read_bytes()).decode()])
    page.wait_for_function(
        """([title, name, value]) => {
             const node = window.app.graph._nodes.find(n => n.title === title);
             const widget = node && node.widgets.find(w => w.name === name);
             return widget && String(widget.value) === value;
           }""",
        arg=[node, input_name, str(picture["value"])],
        timeout=30_000,
    )
    titles = page.evaluate("window.app.graph._nodes.map(n => n.title)")
    assert "Positive prompt" in titles  # the lesson's workflow, not ComfyUI's example
