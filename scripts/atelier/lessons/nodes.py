"""The node list: what the pinned ComfyUI offers, saved so nothing else needs it.

`/object_info` describes every node type of a running ComfyUI. We keep its shape (so
comfy-cli's converter can read it as it is) but strip what would make the file change
for no reason or leak outside the lesson: description prose and tooltips, the lists of
model and input files that happen to be on the machine (kept as an empty list marked
`"files": true`), and the nodes that call paid online services, which are listed by
name only so lint can explain why they are refused. Students' ComfyUI runs with
`--disable-api-nodes`, which hides those nodes altogether: dump from a server started
without it, and the local nodes come out the same while lint can name what it refuses.
Node types a custom node adds are listed under `custom_nodes`, with the repository and
commit they came from, so lint and the lesson pages can say which custom node a lesson needs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.messages import AtelierError

NODE_LIST_PATH = Path("workflows/nodes/object_info.json")
FILE_NAME = re.compile(
    r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx|ya?ml|json|png|jpe?g|webp|gif|wav|flac|mp3|ogg|mp4|webm|mov|glb|obj)$",
    re.IGNORECASE,
)
UPLOAD_FLAGS = {"image_upload", "video_upload", "audio_upload", "file_upload", "remote"}
# Loader inputs whose list also holds built-in entries (VAELoader adds "pixel_space").
FILE_INPUT = re.compile(
    r"^((ckpt|vae|lora|clip|unet|control_net|style_model|gligen|hypernetwork|model)_name\d*|folder)$"
)
PROSE = {"tooltip", "description", "output_tooltips", "python_module"}
# Present only when torchaudio imports; a node list without them silently lacks audio.
AUDIO_PROBES = ("LoadAudio", "SaveAudio", "EmptyLatentAudio")


@dataclass(frozen=True)
class NodeSource:
    """A custom node the node list's entries came from: its folder under custom_nodes/, where it is
    from, the commit that was loaded when the list was made, and the node types it added."""

    folder: str
    repository: str  # "" where it could not be told
    commit: str  # "" where it could not be told
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class NodeList:
    comfyui_version: str
    nodes: dict[str, dict[str, Any]]
    api_nodes: list[str]
    custom_nodes: tuple[NodeSource, ...] = ()  # empty: every node is ComfyUI's own

    def source_of(self, node_type: str) -> NodeSource | None:
        """The custom node a node type comes from; None for ComfyUI's own."""
        return next((source for source in self.custom_nodes if node_type in source.nodes), None)

    def input_spec(self, node_type: str, name: str) -> tuple[Any, dict[str, Any]] | None:
        """(type or choices, options) of one input, or None when the node has no such input."""
        inputs = self.nodes.get(node_type, {}).get("input", {})
        for section in ("required", "optional"):
            spec = inputs.get(section, {}).get(name)
            if spec is not None:
                return spec[0], (spec[1] if len(spec) > 1 else {})
        return None

    def input_names(self, node_type: str) -> list[str]:
        order = self.nodes.get(node_type, {}).get("input_order", {})
        return [*order.get("required", []), *order.get("optional", [])]


def expected(kind: Any, options: dict[str, Any]) -> str | None:
    """What a widget value must be, in words (for messages); None when anything goes."""
    if kind in ("INT", "FLOAT"):
        low, high = options.get("min"), options.get("max")
        noun = "a whole number" if kind == "INT" else "a number"
        if low is not None and high is not None:
            return f"{noun} from {low} to {high}"
        return noun
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    if choices is not None and not options.get("files"):
        shown = ", ".join(map(str, choices[:8])) + (", …" if len(choices) > 8 else "")
        return f"one of {shown}"
    return None


def fits(value: Any, kind: Any, options: dict[str, Any]) -> bool:
    """Whether `value` is allowed for an input of this kind (file lists accept any name)."""
    if kind == "INT":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "FLOAT":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "BOOLEAN":
        return isinstance(value, bool)
    elif kind == "STRING":
        return isinstance(value, str)
    else:
        choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
        if choices is None or options.get("files"):
            return True
        return value in choices
    if not ok:
        return False
    low, high = options.get("min"), options.get("max")
    return (low is None or value >= low) and (high is None or value <= high)


def _is_file_list(name: str, kind: Any, options: dict[str, Any]) -> bool:
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    if choices is None:
        return False
    if UPLOAD_FLAGS & options.keys() or FILE_INPUT.match(name):
        return True
    return all(isinstance(c, str) and FILE_NAME.search(c) for c in choices)


def strip_input(name: str, spec: list[Any]) -> list[Any]:
    kind, options = spec[0], dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], dict) else {}
    files = _is_file_list(name, kind, options)
    for key in PROSE | {"remote"}:
        options.pop(key, None)
    if files:
        options["files"] = True
        if kind == "COMBO":
            options["options"] = []
        else:
            kind = []
    return [kind, options] if options else [kind]


def custom_node_folders(object_info: dict[str, Any]) -> dict[str, list[str]]:
    """Folder under custom_nodes/ -> the node types it added (ComfyUI names it in each node's python_module)."""
    folders: dict[str, list[str]] = {}
    for name in sorted(object_info):
        module = str(object_info[name].get("python_module", ""))
        if module.startswith("custom_nodes."):
            folders.setdefault(module.split(".")[1], []).append(name)
    return folders


def strip(object_info: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(local nodes, names of nodes that call online services)."""
    nodes, api_nodes = {}, []
    for name in sorted(object_info):
        node = object_info[name]
        if node.get("api_node") or str(node.get("python_module", "")).startswith("comfy_api_nodes"):
            api_nodes.append(name)
            continue
        kept = {key: value for key, value in node.items() if key not in PROSE | {"api_node"}}
        kept["input"] = {
            section: {input_name: strip_input(input_name, spec) for input_name, spec in specs.items()}
            for section, specs in node.get("input", {}).items()
            if section != "hidden"
        }
        kept["input_order"] = {k: v for k, v in node.get("input_order", {}).items() if k != "hidden"}
        nodes[name] = kept
    return nodes, api_nodes


def load_node_list(path: Path) -> NodeList:
    if not path.is_file():
        raise AtelierError("node-list-missing", file=path)
    data = json.loads(path.read_text(encoding="utf-8"))
    sources = tuple(
        NodeSource(
            folder, str(entry.get("repository", "")), str(entry.get("commit", "")), tuple(entry.get("nodes", []))
        )
        for folder, entry in sorted((data.get("custom_nodes") or {}).items())
    )
    return NodeList(data["comfyui_version"], data["nodes"], data["api_nodes"], sources)
