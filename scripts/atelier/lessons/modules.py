"""Lesson modules: one folder each under `workflows/`, the single source of a lesson.

A module is `workflow.json` (a ComfyUI workflow in the format the canvas saves, with
notes beside the nodes) and `module.yaml` (what the lesson teaches and how to check
it). Everything else about a lesson, its page, its drawing, its check, is derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.files import read_json, read_yaml
from atelier.messages import AtelierError

WORKFLOWS = Path("workflows")
MODALITIES = ("image", "audio", "video", "3d")
LEVELS = ("first-year", "intermediate", "advanced")
# Node types that live only on the canvas: ComfyUI never runs them.
CANVAS_ONLY = {"MarkdownNote", "Note", "Reroute", "PrimitiveNode"}
MODULE_KEY = "atelier_module"  # in a workflow's `extra`: the lesson it came from


@dataclass(frozen=True)
class Module:
    folder: Path
    workflow: dict[str, Any]
    meta: dict[str, Any]

    @property
    def slug(self) -> str:
        return self.folder.name

    @property
    def title(self) -> str:
        """The lesson's name everywhere a student meets it: page, form, Workflows panel."""
        return str(self.meta.get("title") or self.slug)

    @property
    def file_name(self) -> str:
        """The workflow's file name, the same in ComfyUI's Workflows panel and as a download."""
        return f"{self.title}.json"

    @property
    def workflow_path(self) -> Path:
        return self.folder / "workflow.json"

    @property
    def meta_path(self) -> Path:
        return self.folder / "module.yaml"

    def nodes(self) -> list[dict[str, Any]]:
        return [node for node in self.workflow.get("nodes", []) if isinstance(node, dict)]

    def notes(self) -> list[dict[str, Any]]:
        return [node for node in self.nodes() if node.get("type") in {"MarkdownNote", "Note"}]

    def node_by_title(self, title: str) -> list[dict[str, Any]]:
        return [node for node in self.nodes() if node_title(node) == title]


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


def ordered(modules: list[Module]) -> list[Module]:
    """The catalogue's order: modalities in a fixed order, then level, then title (the first lesson first)."""
    return sorted(
        modules,
        key=lambda m: (MODALITIES.index(m.meta.get("modality", "image")), LEVELS.index(m.meta.get("level", "advanced")),
                       m.slug != "txt2img-basics", m.title),
    )


def all_modules(root: Path = WORKFLOWS) -> list[Module]:
    return [load_module(folder) for folder in module_folders([root])]
