"""`atelier new-module`: start a module from an existing one, ready to edit.

An instructor's new lesson usually begins as a working workflow they change, so the new
folder copies a module's workflow and carries over what stays true (its knobs, models
and outputs) into a module.yaml whose every field is explained. The result lints clean;
the instructor then rewrites the text and reshapes the workflow in ComfyUI.
"""

from __future__ import annotations

import json
import re
import shutil
import string
import uuid
from importlib.resources import files
from pathlib import Path

import yaml

from atelier.lessons.modules import LEVELS, MODALITIES, load_module
from atelier.messages import AtelierError

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _block(items: list[dict]) -> str:
    """A YAML list indented as a field's value."""
    text = yaml.safe_dump(items, sort_keys=False, allow_unicode=True, width=100)
    return "".join(f"  {line}\n" for line in text.splitlines())


def new_folder(root: Path, slug: str) -> Path:
    """Where module `slug` goes; refused when the name is not a slug or the folder is taken."""
    if not SLUG.match(slug):
        raise AtelierError("new-module-slug", slug=slug)
    folder = root / slug
    if folder.exists():
        raise AtelierError("new-module-exists", folder=folder)
    return folder


def check_choices(modality: str, level: str) -> None:
    if modality not in MODALITIES or level not in LEVELS:
        raise AtelierError(
            "new-module-choice",
            modality=modality,
            level=level,
            modalities=", ".join(MODALITIES),
            levels=", ".join(LEVELS),
        )


def write_workflow(folder: Path, workflow: dict) -> None:
    """The new module's workflow.json, under an id of its own (the canvas tells workflows apart by id)."""
    folder.mkdir(parents=True)
    copy = dict(workflow, id=str(uuid.uuid4()))
    (folder / "workflow.json").write_text(json.dumps(copy, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def scaffold(root: Path, slug: str, source: Path, title: str, modality: str, level: str) -> Path:
    """Write root/<slug>/ from the module folder `source` and return the new folder."""
    folder = new_folder(root, slug)
    if not (source / "workflow.json").is_file():
        raise AtelierError("new-module-source", source=source.name, folder=source.parent)
    check_choices(modality, level)
    original = load_module(source)
    template = string.Template(files("atelier.lessons").joinpath("module_template.yaml").read_text(encoding="utf-8"))
    text = template.substitute(
        title=yaml.safe_dump(title, allow_unicode=True).strip().removesuffix("...").strip(),
        modality=modality,
        level=level,
        source=source.name,
        # the sections copied as written (not as read), so nothing the instructor put in them is lost
        knobs=_block(original.meta.get("knobs", [])),
        outputs=_block(original.meta.get("outputs", [])),
        gpu_memory_gb=original.about.gpu_memory_gb or 4,
        models=_block(original.meta.get("models", [])),
        custom_nodes=(
            "\n# Custom nodes the workflow needs beyond ComfyUI's own, with their licence (their commit\n"
            "# is the semester pin's).\ncustom_nodes:\n" + _block(original.meta["custom_nodes"])
            if original.meta.get("custom_nodes")
            else ""
        ),
    )
    write_workflow(folder, original.workflow)
    if (original.folder / "inputs").is_dir():
        shutil.copytree(original.folder / "inputs", folder / "inputs")
    (folder / "module.yaml").write_text(text, encoding="utf-8")
    return folder
