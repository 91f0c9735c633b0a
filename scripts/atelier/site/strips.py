"""Knob strips: for each knob with "Try" values, the pictures those values make, for the lesson page.

Made by the sweep engine (hpc/sweep.py's run_cells, the path `atelier sweep` and
`atelier run` share) on a ComfyUI this module is handed. Each picture keeps the workflow
ComfyUI wrote into it, with the knob at that value, so a student who drags it onto the
canvas gets that exact setting. What the pictures were made with is written beside them
(`<lesson>.yml`): random-weight test models on a CPU, or the real models on a named GPU,
and the lesson page says which; a test-model picture is never passed off as real.
"""

from __future__ import annotations

import copy
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from atelier.check.bench import weights_kind
from atelier.comfy import headless
from atelier.comfy.client import ComfyClient
from atelier.comfy.testmodels import module_models
from atelier.files import read_yaml, write_whole
from atelier.hpc import sweep
from atelier.layout import SweepFolder
from atelier.lessons.modules import Module
from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError

SIDE = 192  # pixels, the longer side of a picture on the page (and of a test-model one as made)
COLOURS = 128  # a palette: a strip of random-weight pictures stays ~30 KB a picture
SAVES = ("SaveImage",)
# Written on every picture a random-weight model made, so no copy of it passes for art: on a
# phone, in a download, in a slide. The PNG's text chunk of the same name says it was written.
TEST_LABEL = "TEST MODEL: noise"
LABEL_KEY = "atelier-label"
BAND = 0.2  # of the picture's height: the dark band the label sits on, at the bottom


@dataclass(frozen=True)
class Made:
    """What a lesson's strips were made with: the line the lesson page shows under them."""

    date: str
    device: str  # "the CPU" or the GPU's name
    models: str  # "test" (random weights) or "real"
    comfyui: str


def knob_id(node: str, input_name: str) -> str:
    """A file-name-safe id for a knob: `KSampler` `cfg` -> `ksampler-cfg`."""
    return re.sub(r"[^a-z0-9]+", "-", f"{node}-{input_name}".lower()).strip("-")


def has_strips(module: Module) -> bool:
    """Pictures, and at least one knob with values to try."""
    return module.about.modality == "image" and any(k.tries for k in module.about.knobs)


def _upstream(prompt: dict[str, Any], node_id: str) -> set[str]:
    """Every node whose output reaches `node_id`, through the API prompt's links."""
    seen: set[str] = set()
    todo = [node_id]
    while todo:
        for value in prompt.get(todo.pop(), {}).get("inputs", {}).values():
            if isinstance(value, list) and len(value) == 2 and str(value[0]) in prompt and str(value[0]) not in seen:
                seen.add(str(value[0]))
                todo.append(str(value[0]))
    return seen


def one_picture(job: headless.Job, title: str) -> headless.Job:
    """The job with only the save node the knob's node leads to (the last on the canvas), so each
    value makes one picture: the one that shows what the knob does."""
    knob_ids = {k for k, n in job.prompt.items() if n.get("_meta", {}).get("title") == title}
    saves = [k for k, n in job.prompt.items() if n.get("class_type") in SAVES and _upstream(job.prompt, k) & knob_ids]
    if not saves:
        raise AtelierError("strips-no-picture", title=title, lesson=job.module.slug if job.module else job.source)
    x = {str(n.get("id")): (n.get("pos") or [0, 0])[0] for n in job.workflow.get("nodes", [])}
    keep = max(saves, key=lambda k: (x.get(k, 0), int(k) if k.isdigit() else 0))
    quick = copy.deepcopy(job)
    for k, node in job.prompt.items():
        if node.get("class_type") in SAVES and k != keep:
            del quick.prompt[k]
    return quick


def with_label(picture: Image.Image, label: str) -> Image.Image:
    """`picture` with `label` in white on a dark band across its bottom, sized to its width."""
    picture = picture.convert("RGB")
    draw = ImageDraw.Draw(picture)
    band = max(14, round(picture.height * BAND))
    draw.rectangle((0, picture.height - band, picture.width, picture.height), fill=(20, 20, 20))
    size = band * 0.6
    font = ImageFont.load_default(size=size)
    while draw.textlength(label, font=font) > picture.width * 0.92 and size > 6:
        size -= 1
        font = ImageFont.load_default(size=size)
    draw.text((picture.width / 2, picture.height - band / 2), label, fill=(255, 255, 255), font=font, anchor="mm")
    return picture


def small_copy(source: Path, target: Path, label: str | None = None) -> tuple[int, int]:
    """The picture at the page's size, labelled if `label`, with ComfyUI's text chunks (the workflow) kept."""
    with Image.open(source) as picture:
        text = dict(picture.text)  # type: ignore[attr-defined]
        small = picture.convert("RGB")
    small.thumbnail((SIDE, SIDE))
    if label and text.get(LABEL_KEY) != label:
        small = with_label(small, label)
        text[LABEL_KEY] = label
    small = small.quantize(COLOURS, dither=Image.Dither.NONE)
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    target.parent.mkdir(parents=True, exist_ok=True)
    small.save(target, "PNG", pnginfo=info, optimize=True)
    return small.size


def models_kind(module: Module, store: Path) -> str:
    """ "test" when any model the lesson loads from `store` has random weights (its header says so), else "real"."""
    for name, folder in module_models(module):
        path = store / folder / name
        if path.is_file() and weights_kind(path) == "random":
            return "test"
    return "real"


def make(
    module: Module,
    out: Path,
    client: ComfyClient,
    node_list: NodeList,
    made: Made,
    smoke: bool,
    on_step: Callable[[str], None] = lambda _: None,
    timeout: float = 1800.0,
) -> Path:
    """Every strip of one lesson into `out/<lesson>/`, and `out/<lesson>.yml` saying what made them.

    The new pictures replace the old ones only once all are made, with the file that says
    what made them, so a run that fails halfway leaves the page as it was.
    """
    base = headless.load_job(module.folder, node_list)
    strips = []
    fresh = out / f".{module.slug}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="atelier-strips-") as work:
        for knob in (k for k in module.about.knobs if k.tries):
            setting = f"{knob.node}.{knob.input}"
            axes = [sweep.Axis(setting, tuple(str(v) for v in knob.tries))]
            plan = sweep.SweepPlan(
                str(module.folder.resolve()),
                axes,
                [],
                sweep.grid(axes, []),
                "local",
                "cpu",
                smoke=smoke,
                smoke_side=SIDE,
            )
            folder = SweepFolder(Path(work) / knob_id(knob.node, knob.input))
            sweep.save_plan(folder, plan)
            job = one_picture(base, knob.node)

            def show(progress: sweep.TaskProgress, setting: str = setting) -> None:
                on_step(f"{module.slug}: {setting} {progress.done}/{progress.total} {progress.state}")

            sweep.run_cells(client, plan, folder, plan.cells, node_list, "strips", show, timeout, job=job)
            pictures = []
            for index, (cell, value) in enumerate(zip(plan.cells, knob.tries, strict=True)):
                record = sweep.record(folder, cell.id)
                if record is None or record.status != "done" or not record.outputs:
                    raise AtelierError(
                        "strips-failed",
                        lesson=module.slug,
                        setting=f"{setting}={value}",
                        reason=record.message if record else "it made nothing",
                    )
                name = f"{module.slug}/{knob_id(knob.node, knob.input)}-{index}.png"
                width, height = small_copy(
                    folder.outputs / record.outputs[0],
                    fresh / Path(name).name,
                    TEST_LABEL if made.models == "test" else None,
                )
                pictures.append({"value": value, "file": name, "width": width, "height": height})
            strips.append({"node": knob.node, "input": knob.input, "pictures": pictures})
    manifest = out / f"{module.slug}.yml"
    data = {"made": made.date, "device": made.device, "models": made.models, "comfyui": made.comfyui, "strips": strips}
    old = out / f".{module.slug}.old"
    shutil.rmtree(old, ignore_errors=True)
    if (out / module.slug).is_dir():
        (out / module.slug).rename(old)
    fresh.rename(out / module.slug)
    write_whole(manifest, yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode())
    shutil.rmtree(old, ignore_errors=True)
    return manifest


@dataclass(frozen=True)
class Strips:
    """A lesson's strips as the page shows them."""

    made: Made
    strips: dict[tuple[str, str], list[dict[str, Any]]]  # (node, input) -> pictures


def read(folder: Path, slug: str) -> Strips | None:
    """The lesson's strips, or None when they were never made."""
    path = folder / f"{slug}.yml"
    if not path.is_file():
        return None
    data = read_yaml(path) or {}
    made = Made(
        str(data.get("made", "")),
        str(data.get("device", "")),
        str(data.get("models", "")),
        str(data.get("comfyui", "")),
    )
    return Strips(made, {(s["node"], s["input"]): list(s["pictures"]) for s in data.get("strips") or []})


def today() -> str:
    return time.strftime("%Y-%m-%d")
