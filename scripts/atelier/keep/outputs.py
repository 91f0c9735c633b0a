"""Reading one output file: what it is, whether it is whole, and the settings inside it.

ComfyUI writes the prompt it ran (API format) and the workflow (UI format) into every
output: PNG text chunks, WebP EXIF tags ("prompt:{...}"), FFmpeg container tags for
video and sound, the `asset.extras` of a GLB. From the prompt we take the settings a
student compares (model, seed, steps, CFG, sampler, prompts) and every other widget
value as "Node title.input". InvokeAI writes its settings as JSON in one PNG text chunk,
read into the same names. A file that is cut short, made elsewhere or not a media
file at all gets a status saying so; reading never raises for a bad file.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import av.logging
from PIL import Image, UnidentifiedImageError

from atelier.lessons.modules import MODULE_KEY

av.logging.set_level(av.logging.PANIC)  # FFmpeg's own complaints would go to the terminal

KINDS = {
    ".png": "image",
    ".webp": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".gif": "image",
    ".mp4": "video",
    ".webm": "video",
    ".mov": "video",
    ".mkv": "video",
    ".flac": "sound",
    ".wav": "sound",
    ".mp3": "sound",
    ".opus": "sound",
    ".ogg": "sound",
    ".m4a": "sound",
    ".glb": "3d",
}
# InvokeAI's pictures hold their settings as JSON in this PNG text chunk, by these names.
INVOKEAI_TAG = "invokeai_metadata"
INVOKEAI_NAMES = {
    "seed": "seed",
    "steps": "steps",
    "cfg": "cfg_scale",
    "sampler": "scheduler",
    "positive": "positive_prompt",
    "negative": "negative_prompt",
}
# The settings that get their own column; everything else stays in `params`.
CORE = ("module", "model", "seed", "steps", "cfg", "sampler", "scheduler", "positive", "negative")

OK, NO_SETTINGS, TRUNCATED, UNREADABLE, FOREIGN = "ok", "no settings", "truncated", "unreadable", "not an output"


@dataclass
class Output:
    """One file as the ledger and the comparison see it."""

    file: str  # relative to the folder it was found in, "/"-separated
    kind: str  # image, video, sound, 3d or other
    status: str  # ok, no settings, truncated, unreadable, not an output
    note: str = ""
    bytes: int = 0
    modified: float = 0.0
    width: int | None = None
    height: int | None = None
    seconds: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # the CORE names that were found
    params: dict[str, Any] = field(default_factory=dict)  # "Title.input": value, every literal input


def read_output(path: Path, name: str | None = None) -> Output:
    """Everything the ledger keeps about `path`; never raises for a broken or foreign file."""
    stat = path.stat()
    kind = KINDS.get(path.suffix.lower(), "other")
    out = Output(name or path.name, kind, FOREIGN, bytes=stat.st_size, modified=stat.st_mtime)
    if kind == "other":
        out.note = "not a picture, sound, video or 3D file"
        return out
    try:
        if not _whole(path, stat.st_size):
            out.status, out.note = TRUNCATED, "the file is cut short (still being written, or a copy was interrupted)"
            return out
        tags = _tags(path, out)
    except (OSError, ValueError, struct.error, UnidentifiedImageError, av.FFmpegError) as err:
        out.status, out.note = UNREADABLE, f"could not be read ({type(err).__name__})"
        return out
    prompt = _json(tags.get("prompt"))
    invoke = _json(tags.get(INVOKEAI_TAG))
    if (not isinstance(prompt, dict) or not prompt) and isinstance(invoke, dict) and invoke:
        out.status = OK
        out.settings, out.params = invokeai_settings(invoke)
        return out
    if not isinstance(prompt, dict) or not prompt:
        out.status, out.note = NO_SETTINGS, "no ComfyUI settings inside (made elsewhere, or saved without them)"
        return out
    workflow = _json(tags.get("workflow"))
    out.status = OK
    out.params = parameters(prompt)
    out.settings = core_settings(prompt)
    module = (workflow or {}).get("extra", {}).get(MODULE_KEY) if isinstance(workflow, dict) else None
    if module:
        out.settings["module"] = str(module)
    return out


def invokeai_settings(metadata: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(settings, params) from the metadata InvokeAI writes into each picture: its names for the same
    settings, and every other plain value as "InvokeAI.<name>"."""
    model = metadata.get("model")
    settings = {
        "model": model.get("name") if isinstance(model, dict) else model,
        **{ours: metadata.get(theirs) for ours, theirs in INVOKEAI_NAMES.items()},
    }
    params = {
        f"InvokeAI.{key}": value
        for key, value in metadata.items()
        if isinstance(value, (str, int, float, bool)) and key not in INVOKEAI_NAMES.values()
    }
    return {key: value for key, value in settings.items() if value is not None}, params


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _whole(path: Path, size: int) -> bool:
    """Cheap end-of-file checks for the formats that say how long they are."""
    suffix = path.suffix.lower()
    with path.open("rb") as handle:
        head = handle.read(12)
        if suffix == ".png":
            handle.seek(max(size - 12, 0))
            return handle.read(12) == b"\x00\x00\x00\x00IEND\xaeB`\x82"
        if suffix in (".webp", ".wav") and head[:4] == b"RIFF":
            return struct.unpack("<I", head[4:8])[0] + 8 <= size
        if suffix == ".glb" and head[:4] == b"glTF":
            return struct.unpack("<I", head[8:12])[0] == size
    return True


def _tags(path: Path, out: Output) -> dict[str, str]:
    """The key/value text ComfyUI stored in the file, keys lower-cased; fills in the size."""
    if out.kind == "image":
        with Image.open(path) as image:
            out.width, out.height = image.size
            tags = {k.lower(): v for k, v in image.info.items() if isinstance(v, str)}
            exif = image.getexif() if image.format != "PNG" else {}  # for PNG it would decode every pixel
            for value in exif.values():  # WebP: "prompt:{...}", "workflow:{...}"
                if isinstance(value, str) and ":" in value:
                    key, _, rest = value.partition(":")
                    tags.setdefault(key.lower(), rest)
            return tags
    if out.kind == "3d":
        with path.open("rb") as handle:
            handle.seek(12)
            length, chunk = struct.unpack("<I4s", handle.read(8))
            if chunk != b"JSON":
                raise ValueError("no JSON chunk")
            extras = json.loads(handle.read(length)).get("asset", {}).get("extras") or {}
            return {str(k).lower(): v for k, v in extras.items() if isinstance(v, str)}
    with av.open(str(path)) as container:
        if container.duration:
            out.seconds = round(container.duration / av.time_base, 3)
        if container.streams.video:
            out.width, out.height = container.streams.video[0].width, container.streams.video[0].height
        tags = {k.lower(): v for stream in container.streams for k, v in stream.metadata.items()}  # Ogg keeps them here
        return tags | {k.lower(): v for k, v in container.metadata.items()}


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _title(node_id: str, node: dict[str, Any]) -> str:
    return str(node.get("_meta", {}).get("title") or node.get("class_type") or node_id)


def _resolve(prompt: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """A literal value, following a link to a node that only holds one (a Primitive)."""
    if not _is_link(value) or depth > 4:
        return None if _is_link(value) else value
    node = prompt.get(value[0], {})
    literals = [v for v in node.get("inputs", {}).values() if not _is_link(v)]
    links = [v for v in node.get("inputs", {}).values() if _is_link(v)]
    if len(literals) == 1 and not links:
        return literals[0]
    if len(links) == 1 and not literals:
        return _resolve(prompt, links[0], depth + 1)
    return None


def parameters(prompt: dict[str, Any]) -> dict[str, Any]:
    """Every literal input of every node, as "Node title.input" (node id added when titles repeat)."""
    titles: dict[str, int] = {}
    for node_id, node in prompt.items():
        if isinstance(node, dict):
            titles[_title(node_id, node)] = titles.get(_title(node_id, node), 0) + 1
    params: dict[str, Any] = {}
    for node_id, node in sorted(prompt.items(), key=lambda item: _order(item[0])):
        if not isinstance(node, dict):
            continue
        title = _title(node_id, node)
        label = title if titles[title] == 1 else f"{title} #{node_id}"
        for name, value in node.get("inputs", {}).items():
            if not _is_link(value) and isinstance(value, (str, int, float, bool)):
                params[f"{label}.{name}"] = value
    return params


def _order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 30, node_id)


def _text(prompt: dict[str, Any], link: Any, depth: int = 0) -> str | None:
    """The prompt text behind a sampler's positive/negative, through conditioning nodes."""
    if not _is_link(link) or depth > 6:
        return None
    inputs = prompt.get(link[0], {}).get("inputs", {})
    for key in ("text", "text_g", "prompt"):
        text = _resolve(prompt, inputs.get(key))
        if isinstance(text, str):
            return text
    for key in ("conditioning", "conditioning_1", "positive", "negative"):
        if key in inputs and (found := _text(prompt, inputs[key], depth + 1)) is not None:
            return found
    return None


def core_settings(prompt: dict[str, Any]) -> dict[str, Any]:
    """The settings students compare, from the first node that has each (the sampler first)."""
    nodes = [n for _, n in sorted(prompt.items(), key=lambda item: _order(item[0])) if isinstance(n, dict)]
    samplers = [n for n in nodes if "positive" in n.get("inputs", {})] + nodes
    wanted = {
        "model": ("ckpt_name", "unet_name"),
        "seed": ("seed", "noise_seed"),
        "steps": ("steps",),
        "cfg": ("cfg",),
        "sampler": ("sampler_name",),
        "scheduler": ("scheduler",),
    }
    found: dict[str, Any] = {}
    for name, inputs in wanted.items():
        for node in nodes if name == "model" else samplers:
            values = [_resolve(prompt, node.get("inputs", {}).get(i)) for i in inputs]
            value = next((v for v in values if v is not None), None)
            if value is not None:
                found[name] = value
                break
    for side in ("positive", "negative"):
        for node in samplers:
            if (text := _text(prompt, node.get("inputs", {}).get(side))) is not None:
                found[side] = text
                break
    return found
