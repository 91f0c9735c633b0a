"""Knob strips: made for every knob a picture lesson lets students try, honest about their models,
and each picture opening in ComfyUI with its own setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

from atelier.comfy import headless
from atelier.lessons.convert import to_api
from atelier.project import find
from atelier.site import strips
from atelier.site.pages.lessons import lesson_page

ROOT = Path(__file__).resolve().parents[2]
PROJECT = find(ROOT)
FOLDER = PROJECT.knob_pictures
PICTURE_LESSONS = [m for m in PROJECT.modules if strips.has_strips(m)]


@pytest.mark.parametrize("module", PICTURE_LESSONS, ids=lambda m: m.slug)
def test_every_knob_with_try_values_has_its_strip_in_the_same_order(module) -> None:
    made = strips.read(FOLDER, module.slug)
    assert made is not None, f"no strips for {module.slug}: run 'atelier strips --module {module.slug}'"
    for knob in (k for k in module.about.knobs if k.tries):
        pictures = made.strips.get((knob.node, knob.input))
        assert pictures, (
            f"{module.slug}: no strip for {knob.node}.{knob.input}: run 'atelier strips --module {module.slug}'"
        )
        assert [str(p["value"]) for p in pictures] == [str(t) for t in knob.tries], (
            f"{module.slug}: the strip of {knob.node}.{knob.input} was made for other Try values than module.yaml's: "
            f"run 'atelier strips --module {module.slug}'"
        )
    assert made.made.models in ("test", "real") and made.made.date and made.made.device and made.made.comfyui


@pytest.mark.parametrize("module", PICTURE_LESSONS, ids=lambda m: m.slug)
def test_each_picture_holds_the_workflow_with_the_knob_at_its_value(module) -> None:
    made = strips.read(FOLDER, module.slug)
    assert made is not None
    for (node, input_name), pictures in made.strips.items():
        for picture in pictures:
            path = FOLDER / picture["file"]
            with Image.open(path) as image:
                assert max(image.size) <= strips.SIDE and image.size == (picture["width"], picture["height"])
                workflow = json.loads(image.text["workflow"])
            prompt, _ = to_api(workflow, PROJECT.nodes, path)
            (found,) = [n for n in prompt.values() if n["_meta"]["title"] == node]
            assert str(found["inputs"][input_name]) == str(picture["value"]), (path, found["inputs"][input_name])
            assert path.stat().st_size < 60_000, f"{path} is {path.stat().st_size} bytes: the site grows"


def test_the_page_says_test_models_are_test_models_and_real_ones_when_and_where(tmp_path: Path) -> None:
    module = next(m for m in PICTURE_LESSONS if m.slug == "txt2img-basics")
    prompt, _ = to_api(module.workflow, PROJECT.nodes, module.workflow_path)
    page = lesson_page(module, PROJECT.nodes, prompt, {}, PROJECT.screenshots, FOLDER)
    made = strips.read(FOLDER, module.slug)
    assert made is not None
    if made.made.models == "test":
        assert '??? warning "Test runs: noise from test models, not what you will see"' in page  # folded
        assert "### What each knob does" not in page  # a heading promises only what the pictures show
        assert page.count("Test-model picture (noise, labelled TEST MODEL)") == sum(
            len(p) for p in made.strips.values()
        )
        assert page.count("<figcaption>Test run: ") == sum(len(p) for p in made.strips.values())
    data = yaml.safe_load((FOLDER / f"{module.slug}.yml").read_text())
    real = {**data, "models": "real", "device": "NVIDIA H100 80GB HBM3", "made": "2027-01-15"}
    (tmp_path / f"{module.slug}.yml").write_text(yaml.safe_dump(real))
    page = lesson_page(module, PROJECT.nodes, prompt, {}, PROJECT.screenshots, tmp_path)
    assert '!!! info "Made with this lesson\'s own models on NVIDIA H100 80GB HBM3, 2027-01-15"' in page
    assert "test model" not in page.lower() and "(noise)" not in page
    assert "### What each knob does" in page
    unmade = lesson_page(module, PROJECT.nodes, prompt, {}, PROJECT.screenshots, tmp_path / "none")
    assert "### What each knob does" not in unmade and "### Each value runs" not in unmade


@pytest.mark.parametrize(
    ("slug", "title", "saves"),
    [
        ("prompts-and-negatives", "Useful negative prompt", "B-useful-negative"),
        ("controlnet", "Canny edges", "atelier/controlnet"),
        ("txt2img-basics", "KSampler", "atelier/txt2img"),
    ],
)
def test_a_strip_shows_the_picture_the_knob_leads_to(slug: str, title: str, saves: str) -> None:
    job = headless.load_job(ROOT / "workflows" / slug, PROJECT.nodes)
    kept = strips.one_picture(job, title)
    prefixes = [n["inputs"]["filename_prefix"] for n in kept.prompt.values() if n["class_type"] == "SaveImage"]
    assert len(prefixes) == 1 and prefixes[0].endswith(saves), prefixes


def test_every_test_model_picture_says_so_on_the_picture() -> None:
    """The label is in the pixels: a dark band with light text across the bottom, as saved or downloaded."""
    for module in PICTURE_LESSONS:
        made = strips.read(FOLDER, module.slug)
        if made is None or made.made.models == "real":
            continue
        for pictures in made.strips.values():
            for picture in pictures:
                path = FOLDER / picture["file"]
                with Image.open(path) as image:
                    assert image.text.get(strips.LABEL_KEY) == strips.TEST_LABEL, path
                    rgb = image.convert("RGB")
                band = rgb.crop((0, rgb.height - round(rgb.height * strips.BAND) + 2, rgb.width, rgb.height - 2))
                colours = band.getcolors(band.width * band.height) or []
                dark = sum(n for n, (r, g, b) in colours if max(r, g, b) < 40)
                light = sum(n for n, (r, g, b) in colours if min(r, g, b) > 200)
                assert dark > 0.6 * band.width * band.height and light > 50, (path, dark, light)


def test_a_label_is_written_once_and_keeps_the_workflow(tmp_path: Path) -> None:
    source = next(FOLDER.glob("txt2img-basics/*.png"))
    once, twice = tmp_path / "once.png", tmp_path / "twice.png"
    strips.small_copy(source, once, strips.TEST_LABEL)
    strips.small_copy(once, twice, strips.TEST_LABEL)
    with Image.open(source) as a, Image.open(twice) as b:
        assert a.text["workflow"] == b.text["workflow"]
        assert list(a.convert("RGB").getdata()) == list(b.convert("RGB").getdata())
