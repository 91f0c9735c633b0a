"""`atelier screenshots` against a real ComfyUI: every lesson pictured, described, and nothing fetched from afar."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from PIL import Image, ImageStat

from atelier.cli.comfyui import ComfyChoice
from atelier.lessons.modules import all_modules
from atelier.lessons.nodes import load_node_list
from atelier.lessons.pin import load_pin
from atelier.site import screenshots as shots
from atelier.site import screenshots_marks as marks
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
    node_list = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")
    out = tmp_path_factory.mktemp("screenshots")
    return in_own_thread(
        shots.take,
        out,
        MODULES,
        node_list,
        ComfyChoice(str(checkout), str(python), cpu=True).server(tmp_path_factory.mktemp("shots-comfyui")),
        quick=True,
    )


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
    lock = load_pin(ROOT / "workflows" / "pin.yaml")
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


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=False))


def test_each_mark_is_drawn_beside_the_element_the_page_text_names(made: shots.Result) -> None:
    manifest = yaml.safe_load(made.manifest.read_text(encoding="utf-8"))
    labels = manifest["labels"]
    expected = {
        "the Workflows button in the left sidebar": labels["sidebar"]["workflows"],
        "the ComfyUI logo (the menu)": "ComfyUI Logo",
        "the blue Run button": labels["run"],
        "the lesson's workflow": "Your first image.json",
        "the workflow saved in an earlier session": shots.SAVED,
        "the Save Image node": "Save Image",
    }
    assert set(manifest["marks"]) == set(marks.MARKS)
    for name, targets in marks.MARKS.items():
        entry = manifest["marks"][name]
        assert [(m["number"], m["element"]) for m in entry["marks"]] == [
            (n, t.called) for n, t in enumerate(targets, 1)
        ]
        with Image.open(made.folder / name) as image:
            picture = image.convert("RGB")
        for mark in entry["marks"]:
            assert mark["label"] == expected[mark["element"]], (name, mark)
            x, y, w, h = mark["box"]
            ax, ay = mark["at"]
            assert 0 <= x and 0 <= y and x + w <= picture.width + 1 and y + h <= picture.height + 1, (name, mark)
            gap = max(x - ax, ax - (x + w), y - ay, ay - (y + h), 0)
            assert gap <= marks.BADGE, f"{name}: mark {mark['number']} is {gap} px from its element"
            ring = [picture.getpixel((round(ax + dx), round(ay))) for dx in (-8, -7, 7, 8)]
            assert any(_near(p, marks.MARK_COLOUR) for p in ring), f"{name}: no mark drawn at {mark['at']}: {ring}"


def test_the_marks_boxes_are_where_a_live_comfyui_shows_those_elements(made: shots.Result, comfy) -> None:
    """The window's frame does not move with the workflow: found again in another ComfyUI, the boxes agree."""
    recorded = {
        m["element"]: m["box"] for m in yaml.safe_load(made.manifest.read_text())["marks"]["tour-canvas.png"]["marks"]
    }

    def find() -> dict[str, list[float]]:
        with shots._page(comfy, shots.CHROMIUM, set(), []) as page:
            return {t.called: list(marks._find(page, t, {})[1]) for t in (marks.WORKFLOWS, marks.MENU, marks.RUN)}

    for called, box in in_own_thread(find).items():
        assert box == pytest.approx(recorded[called], abs=2), called


def test_each_marked_picture_has_a_sharp_crop_no_wider_than_two_phone_widths(made: shots.Result) -> None:
    manifest = yaml.safe_load(made.manifest.read_text(encoding="utf-8"))
    for name, entry in manifest["marks"].items():
        crop = marks.crop_name(name)
        assert manifest["screenshots"][crop].startswith("For small screens"), crop
        with Image.open(made.folder / crop) as image:
            widest = max(r[2] for r in entry["crop"]["regions"])
            assert abs(image.width - widest * marks.CROP_SCALE) <= 2 and image.width <= 2 * 390, crop
            yellow = sum(1 for p in image.convert("RGB").getdata() if _near(p, marks.MARK_COLOUR))
            assert yellow > 200 * len(entry["marks"]), f"{crop}: its marks are not in it"


def test_every_picture_of_a_test_models_output_says_so_on_the_picture(made: shots.Result) -> None:
    manifest = yaml.safe_load(made.manifest.read_text(encoding="utf-8"))
    assert manifest["models"].startswith("random-weight test models")
    for name in marks.OUTPUTS:
        label = manifest["marks"][name]["test_model_label"]
        assert label["text"] == marks.TEST_LABEL
        x, y, w, h = label["box"]
        node_box = next(m["box"] for m in manifest["marks"][name]["marks"] if m["label"] == "Save Image")
        assert node_box[0] <= x and x + w <= node_box[0] + node_box[2] + 1, "the label is not on the Save Image node"
        assert w >= 150 and h >= 40, label  # three lines of 15 px bold at least
        with Image.open(made.folder / name) as image:
            inside = image.convert("RGB").crop((round(x) + 4, round(y) + 4, round(x + w) - 4, round(y + h) - 4))
        ground = sum(1 for p in inside.getdata() if _near(p, marks.LABEL_COLOUR, 20)) / (inside.width * inside.height)
        assert ground > 0.5, f"{name}: the label's black ground covers {ground:.0%} of its box"
        assert (
            marks.TEST_LABEL in manifest["screenshots"][name]
            and marks.TEST_LABEL in manifest["screenshots"][marks.crop_name(name)]
        )
