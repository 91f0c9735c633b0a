"""`atelier screenshots` against a real ComfyUI: every lesson pictured, described, and nothing fetched from afar."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from PIL import Image, ImageStat

from atelier.cli.options import pinned_nodes
from atelier.site import screenshots as shots
from atelier.lessons.nodes import load_catalogue
from atelier.lessons.pin import load_lock
from atelier.lessons.modules import all_modules
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]
MODULES = all_modules(ROOT / "workflows")
T = TypeVar("T")
SIZE = (shots.VIEWPORT["width"], shots.VIEWPORT["height"])


def in_own_thread(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Playwright's sync API refuses a thread where pytest-playwright's event loop already runs."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args, **kwargs).result()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> shots.Result:
    """One run for all the checks: it starts ComfyUI and Chromium and opens twelve lessons."""
    checkout, python = comfyui_from_env()
    catalogue = load_catalogue(ROOT / "workflows" / "catalogue" / "object_info.json")
    out = tmp_path_factory.mktemp("screenshots")
    return in_own_thread(shots.take, out, MODULES, catalogue, checkout, python,
                         tmp_path_factory.mktemp("shots-comfyui"), quick=True, custom_nodes=pinned_nodes())


def test_every_lesson_has_a_picture_of_the_fixed_size_that_is_not_blank(made: shots.Result) -> None:
    for name in [f"{m.slug}.png" for m in MODULES] + ["tour-workflows.png", "tour-canvas.png", "first-image-done.png"]:
        with Image.open(made.folder / name) as image:
            assert image.size == SIZE, name
            assert ImageStat.Stat(image.convert("L")).var[0] > 200, f"{name} is nearly one colour"
        assert (made.folder / name).stat().st_size < 150_000, name
    with Image.open(made.folder / "tour-run.png") as corner:
        assert corner.width < SIZE[0] and corner.height < SIZE[1] // 2


def test_the_canvas_held_each_whole_workflow_when_it_was_taken(made: shots.Result) -> None:
    nodes = {shot.file: shot.nodes for shot in made.shots}
    assert {m.slug: nodes[f"{m.slug}.png"] for m in MODULES} == {m.slug: len(m.nodes()) for m in MODULES}


def test_the_manifest_describes_every_picture_and_names_the_versions(made: shots.Result) -> None:
    manifest = yaml.safe_load(made.manifest.read_text(encoding="utf-8"))
    pictures = sorted(p.name for p in made.folder.glob("*.png"))
    assert sorted(manifest["screenshots"]) == pictures
    for module in MODULES:
        alt = manifest["screenshots"][f"{module.slug}.png"]
        assert f"'{module.meta['title']}'" in alt and "in the order they run" in alt, module.slug
    assert all(alt.strip() for alt in manifest["screenshots"].values())
    assert "Save Image" in manifest["screenshots"]["first-image-done.png"]
    lock = load_lock(ROOT / "workflows" / "lock.yaml")
    assert (manifest["comfyui"], manifest["frontend"]) == (lock.comfyui_version, lock.frontend_version)
    assert manifest["labels"]["run"] == "Run" and manifest["labels"]["sidebar"]["workflows"]


def test_a_request_to_another_host_is_refused_and_recorded(comfy) -> None:
    hosts: set[str] = set()
    blocked: list[str] = []

    def ask() -> str:
        with shots._page(comfy, shots.CHROMIUM, hosts, blocked) as page:
            return page.evaluate("fetch('https://huggingface.co/x').then(() => 'answered', () => 'refused')")

    answer = in_own_thread(ask)
    assert answer == "refused"
    assert blocked == ["https://huggingface.co/x"] and "huggingface.co" in hosts
