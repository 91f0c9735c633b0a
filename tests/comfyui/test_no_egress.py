"""A student's browser asks nothing of other hosts, even when a lesson names a model the store lacks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Page, Route

from atelier.comfy.server import LOGIN, ComfyServer

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_model_sends_the_browser_nowhere(comfy: ComfyServer, page: Page) -> None:
    """The store has no SDXL model here; ComfyUI's dialog would look it up on huggingface.co."""
    asked: list[str] = []

    def guard(route: Route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("http", "https", "ws") and urlparse(url).hostname != "127.0.0.1":
            asked.append(url)
            route.abort()  # recorded, never sent
        else:
            route.continue_()

    page.route("**/*", guard)
    page.goto(f"{comfy.url}{LOGIN}")
    page.fill("#token", comfy.token)
    page.click("button[type=submit]")
    page.wait_for_function("window.app && window.app.graph", timeout=120_000)
    workflow = json.loads((ROOT / "workflows" / "sdxl-basics" / "workflow.json").read_text(encoding="utf-8"))
    assert any(n.get("properties", {}).get("models") for n in workflow["nodes"])  # what the dialog reads

    def load() -> None:
        page.evaluate("async (w) => { await window.app.loadGraphData(w); }", workflow)
        time.sleep(3)

    load()
    assert asked == [], f"the browser asked other hosts: {asked}"
    # The same load with ComfyUI's own default shows that this test would see such a request.
    page.evaluate(
        "async () => { await window.app.extensionManager.setting.set("
        "'Comfy.Workflow.ShowMissingModelsWarning', true); }"
    )
    load()
    assert any("huggingface.co" in url for url in asked), asked
