"""Lesson modules: one folder each under `workflows/`, the single source of a lesson.

A module is `workflow.json` (a ComfyUI workflow in the format the canvas saves, with
notes beside the nodes) and `module.yaml` (what the lesson teaches and how to check
it). Everything else about a lesson, its page, its drawing, its check, is derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.files import read_json, read_yaml
from atelier.lessons.meta import LEVELS, MODALITIES, Meta, read_meta  # the first two are imported from here too
from atelier.messages import AtelierError

WORKFLOWS = Path("workflows")
# Node types that live only on the canvas: ComfyUI never runs them.
CANVAS_ONLY = {"MarkdownNote", "Note", "Reroute", "PrimitiveNode"}
MODULE_KEY = "atelier_module"  # in a workflow's `extra`: the lesson it came from


@dataclass(frozen=True)
class Model:
    """A model file a workflow loads, as its loader node's `properties.models` declares it."""

    name: str
    directory: str  # the ComfyUI models folder it goes in; "" where not declared
    url: str  # "" where not declared
    hash: str  # "" where the publisher states none
    hash_type: str

    @property
    def sha256(self) -> str | None:
        """The publisher's sha256 (lower case) to verify a download with; None when there is none."""
        return self.hash.lower() if self.hash and self.hash_type.lower() == "sha256" else None


def node_models(node: dict[str, Any]) -> list[Model]:
    """The models one node declares (entries without a name name nothing and are left out)."""
    properties = node.get("properties")
    declared = properties.get("models") if isinstance(properties, dict) else None
    if not isinstance(declared, list):
        return []

    def text(entry: dict[str, Any], key: str) -> str:
        return str(entry.get(key) or "")

    return [
        Model(
            text(entry, "name"),
            text(entry, "directory"),
            text(entry, "url"),
            text(entry, "hash"),
            text(entry, "hash_type"),
        )
        for entry in declared
        if isinstance(entry, dict) and entry.get("name")
    ]


@dataclass(frozen=True)
class Module:
    """One lesson module; `about` is its module.yaml, typed, read when the module is made."""

    folder: Path
    workflow: dict[str, Any]
    meta: dict[str, Any]  # module.yaml as written: what `atelier new-module` copies; everything else reads `about`
    source: Path | None = None  # a plain workflow file a teacher brings, with no module.yaml beside it
    about: Meta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "about", read_meta(self.meta, self.meta_path))

    @property
    def slug(self) -> str:
        return self.folder.name

    @property
    def title(self) -> str:
        """The lesson's name everywhere a student meets it: page, form, Workflows panel."""
        return self.about.title or self.slug

    @property
    def file_name(self) -> str:
        """The workflow's file name, the same in ComfyUI's Workflows panel and as a download."""
        return f"{self.title}.json"

    @property
    def workflow_path(self) -> Path:
        return self.source or self.folder / "workflow.json"

    @property
    def plain(self) -> bool:
        """A workflow exported from ComfyUI (or one of its templates), not yet a lesson module."""
        return self.source is not None

    @property
    def meta_path(self) -> Path:
        return self.folder / "module.yaml"

    def nodes(self) -> list[dict[str, Any]]:
        return [node for node in self.workflow.get("nodes", []) if isinstance(node, dict)]

    def notes(self) -> list[dict[str, Any]]:
        return [node for node in self.nodes() if node.get("type") in {"MarkdownNote", "Note"}]

    def node_by_title(self, title: str) -> list[dict[str, Any]]:
        return [node for node in self.nodes() if node_title(node) == title]

    def models(self) -> list[Model]:
        """Every model file the workflow declares, once each (by file name, the last word kept), by name."""
        found = {model.name: model for node in self.nodes() for model in node_models(node)}
        return sorted(found.values(), key=lambda model: model.name)


def tagged(workflow: dict[str, Any], slug: str) -> dict[str, Any]:
    """A copy of `workflow` that names its lesson, so every output it makes says where it came from.

    ComfyUI keeps a workflow's `extra` when it saves outputs; the ledger reads it back.
    """
    return {**workflow, "extra": {**(workflow.get("extra") or {}), MODULE_KEY: slug}}


def node_title(node: dict[str, Any], display_names: dict[str, str] | None = None) -> str:
    """The title a student sees on the canvas."""
    if node.get("title"):
        return str(node["title"])
    node_type = str(node.get("type", "?"))
    return (display_names or {}).get(node_type, node_type)


def is_module(folder: Path) -> bool:
    return (folder / "workflow.json").is_file() or (folder / "module.yaml").is_file()


def module_folders(paths: list[Path]) -> list[Path]:
    """Module folders named by `paths`: a module folder itself, or a folder of them."""
    found: list[Path] = []
    for path in paths:
        if is_plain_workflow(path):
            continue  # not a module: lint and run take it as a plain workflow
        if path.is_file():
            path = path.parent
        if is_module(path):
            found.append(path)
        elif path.is_dir():
            found += sorted(child for child in path.iterdir() if child.is_dir() and is_module(child))
    return found


def load_module(folder: Path) -> Module:
    """Read both files; raises AtelierError naming the file and line when one is malformed."""
    for name in ("workflow.json", "module.yaml"):
        if not (folder / name).is_file():
            raise AtelierError("module-file-missing", folder=folder, name=name)
    return Module(folder, read_json(folder / "workflow.json"), read_yaml(folder / "module.yaml") or {})


def load_workflow(path: Path) -> Module:
    """A plain workflow file as a module without module.yaml: lint and run read it like one."""
    workflow = read_json(path)
    if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
        raise AtelierError("workflow-not-canvas", file=path)
    return Module(path.parent, workflow, {}, source=path)


def is_plain_workflow(path: Path) -> bool:
    """A .json file that is not a module's own workflow.json."""
    return path.is_file() and path.suffix == ".json" and not (path.name == "workflow.json" and is_module(path.parent))


def ordered(modules: list[Module]) -> list[Module]:
    """The lesson list's order: modalities in a fixed order, then level, then title (the first lesson first)."""
    return sorted(
        modules,
        key=lambda m: (
            MODALITIES.index(m.about.modality or "image"),
            LEVELS.index(m.about.level or "advanced"),
            m.slug != "txt2img-basics",
            m.title,
        ),
    )


def all_modules(root: Path) -> list[Module]:
    return [load_module(folder) for folder in module_folders([root])]
