"""Every module loads on the real ComfyUI canvas with its nodes, wires and values intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from atelier.comfy.server import LOGIN
from atelier.lessons.modules import all_modules

ROOT = Path(__file__).resolve().parents[2]
MODULES = all_modules(ROOT / "workflows")


@pytest.fixture
def canvas(comfy, page: Page) -> Page:
    page.goto(f"{comfy.url}{LOGIN}")
    page.fill("#token", comfy.token)
    page.click("button[type=submit]")
    page.wait_for_function("window.app && window.app.graph", timeout=60_000)
    return page


@pytest.mark.parametrize("module", MODULES, ids=[m.slug for m in MODULES])
def test_module_loads_on_the_canvas(canvas: Page, module) -> None:
    canvas.evaluate("async (workflow) => { await window.app.loadGraphData(workflow); }", module.workflow)
    loaded = canvas.evaluate("window.app.graph.serialize()")
    nodes = {node["id"]: node for node in loaded["nodes"]}
    assert sorted(nodes) == sorted(node["id"] for node in module.workflow["nodes"])
    assert sorted(map(tuple, loaded["links"])) == sorted(map(tuple, module.workflow["links"]))
    for node in module.workflow["nodes"]:
        values = node.get("widgets_values") or []
        # The canvas may append a widget of its own (SaveGLB adds a preview), never change ours.
        assert nodes[node["id"]].get("widgets_values", [])[: len(values)] == values, f"node {node['id']} {node['type']}"
    missing = canvas.evaluate("window.app.graph._nodes.filter(n => n.has_errors || n.type === undefined).length")
    assert missing == 0
