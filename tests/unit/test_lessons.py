"""Lesson pages and drawings are made from the module folder and the node list."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import yaml

from atelier.lessons.convert import to_api
from atelier.lessons.modules import all_modules
from atelier.lessons.nodes import load_node_list
from atelier.project import SCREENSHOTS
from atelier.site.graph import draw
from atelier.site.pages.lessons import display_names, lesson_page, modules_table, nav

ROOT = Path(__file__).resolve().parents[2]
NODE_LIST = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")
MODULES = {m.slug: m for m in all_modules(ROOT / "workflows")}


def page_of(module, screenshots: Path = ROOT / SCREENSHOTS) -> str:
    prompt, _ = to_api(module.workflow, NODE_LIST, module.workflow_path)
    return lesson_page(module, NODE_LIST, prompt, {m.slug: m.meta["title"] for m in MODULES.values()}, screenshots)


def test_knob_table_takes_defaults_and_ranges_from_the_node_list() -> None:
    page = page_of(MODULES["txt2img-basics"])
    # What to try first, beside the lesson's value; ComfyUI's default and limits in the folded table after it.
    assert (
        "| KSampler | `seed` | `42`, `7`, `2026` | `42` | The random starting point. A new seed gives a new "
        "picture of the same idea. |"
    ) in page
    assert "| KSampler | `seed` | `0` | 0 to 18446744073709551615 |" in page
    assert page.index("| `42`, `7`, `2026` |") < page.index("What ComfyUI accepts") < page.index("18446744073709551615")
    assert "| Image size | `width` | `512` | 16 to 16384 |" in page


def test_page_has_the_carpentries_shape_and_downloads() -> None:
    page = page_of(MODULES["img2img"])
    for part in (
        '!!! abstract "Questions"',
        '!!! success "Objectives"',
        "## Exercises",
        '??? success "Solution"',
        '!!! note "Key points"',
        "[Download Repaint a picture (image to image).json](img2img/workflow.json)",
        "(img2img/inputs/still_life_painting.png)",
        "(img2img/graph.svg)",
        "[Your first image](txt2img-basics.md)",
    ):
        assert part in page, part
    assert "| `v1-5-pruned-emaonly.safetensors` | `checkpoints` | 4.3 GB | [CreativeML OpenRAIL-M](" in page


def test_a_changed_module_changes_its_page() -> None:
    module = MODULES["txt2img-basics"]
    meta = copy.deepcopy(module.meta)  # module.yaml, edited
    meta["knobs"][1]["what"] = "Where the noise begins."
    meta["exercises"][0]["solution"] = "Seeds are starting points."
    page = page_of(dataclasses.replace(module, meta=meta))
    assert "| KSampler | `seed` | `42`, `7`, `2026` | `42` | Where the noise begins. |" in page
    assert "        Seeds are starting points." in page


def test_graph_drawing_shows_every_node_and_link() -> None:
    module = MODULES["controlnet"]
    prompt, _ = to_api(module.workflow, NODE_LIST, module.workflow_path)
    svg = draw(module.workflow, display_names(NODE_LIST), "ControlNet", {k: v["inputs"] for k, v in prompt.items()})
    assert svg.count("<path ") == len(module.workflow["links"])
    for node in module.workflow["nodes"]:
        if node["type"] != "MarkdownNote":
            assert f">{node.get('title', node['type'])}</text>" in svg
    assert "strength: 1.0" in svg
    assert "<title>ControlNet</title>" in svg


def test_lesson_list_shows_every_module_with_filters() -> None:
    table = modules_table(list(MODULES.values()))
    assert len(re.findall(r"<tr data-modality=", table)) == len(MODULES) >= 12
    assert {m.meta["modality"] for m in MODULES.values()} == {"image", "audio", "video", "3d"}
    assert 'data-lesson-filter="modality"' in table and 'data-lesson-filter="level"' in table
    sections = [next(iter(group)) for group in nav(list(MODULES.values()))]
    assert sections == ["Image", "Sound", "Video", "3D"]


def test_the_page_shows_the_comfyui_screenshot_with_the_manifests_alt_text(tmp_path: Path) -> None:
    (tmp_path / "img2img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    alt = "ComfyUI with the lesson 'Repaint a picture (image to image)' open, zoomed to fit [12 nodes]."
    (tmp_path / "screenshots.yml").write_text(yaml.safe_dump({"screenshots": {"img2img.png": alt}}))
    page = page_of(MODULES["img2img"], tmp_path)
    shown = "![ComfyUI with the lesson 'Repaint a picture (image to image)' open, zoomed to fit (12 nodes).]"
    assert f"{shown}(../assets/screenshots/img2img.png)" in page
    assert page.index("## The workflow") < page.index(shown) < page.index("(img2img/graph.svg)")


def test_a_lesson_without_a_screenshot_or_its_alt_text_still_gets_its_page(tmp_path: Path) -> None:
    assert "assets/screenshots" not in page_of(MODULES["img2img"], tmp_path)  # no picture, no manifest
    (tmp_path / "img2img.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert "assets/screenshots" not in page_of(MODULES["img2img"], tmp_path)  # a picture without words
    (tmp_path / "screenshots.yml").write_text(yaml.safe_dump({"screenshots": {"lora.png": "LoRA"}}))
    assert "assets/screenshots" not in page_of(MODULES["img2img"], tmp_path)
    assert "(img2img/graph.svg)" in page_of(MODULES["img2img"], tmp_path)
