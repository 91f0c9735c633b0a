"""Running a workflow headlessly: convert, upload inputs, submit, follow, download.

`atelier run`, `atelier check` and the benchmarks share this path, so a lesson check
exercises exactly what a student's run does. Progress comes from ComfyUI's WebSocket
(which node is running, which sampler step); failures are turned into the message
message catalogue's plain sentences: a missing model names the file and folder, running out
of GPU memory says what to lower, a bad knob value gives the allowed range.
"""

from __future__ import annotations

import contextlib
import copy
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from atelier.comfy.client import ComfyClient, Rejected
from atelier.files import read_json
from atelier.lessons.convert import to_api
from atelier.lessons.modules import Module, is_module, load_module, tagged
from atelier.lessons.nodes import NodeList, expected, fits
from atelier.messages import AtelierError

OUTPUT_LISTS = ("images", "audio", "video", "gifs", "3d", "mesh", "files")


@dataclass
class Job:
    """One workflow ready to submit."""

    source: Path
    workflow: dict[str, Any]
    prompt: dict[str, Any]
    inputs: list[Path] = field(default_factory=list)
    module: Module | None = None
    capped: dict[str, dict[Any, Any]] = field(default_factory=dict)  # by smoke_settings: input -> {was: now}


@dataclass(frozen=True)
class Progress:
    """What is happening now, for a progress display."""

    title: str
    done: int  # nodes finished
    total: int
    step: int = 0  # sampler step within the node, when it reports one
    steps: int = 0


@dataclass
class RunResult:
    prompt_id: str
    outputs: list[Path]
    seconds: float  # from submit to the last file downloaded
    comfy_seconds: float | None  # ComfyUI's own execution time, from its history


def load_job(target: Path, node_list: NodeList) -> Job:
    """A module folder (or a workflow .json file) converted to an API prompt."""
    if target.is_dir() and is_module(target):
        module = load_module(target)
        inputs = sorted((target / "inputs").iterdir()) if (target / "inputs").is_dir() else []
        prompt, _ = to_api(module.workflow, node_list, module.workflow_path)
        return Job(module.workflow_path, tagged(module.workflow, module.slug), prompt, inputs, module)
    if target.is_file() and target.suffix == ".json":
        workflow = read_json(target)
        prompt, _ = to_api(workflow, node_list, target)
        inputs = sorted((target.parent / "inputs").iterdir()) if (target.parent / "inputs").is_dir() else []
        return Job(target, workflow, prompt, inputs)
    raise AtelierError("workflow-missing", path=target)


def knob_name(name: str, setting: str) -> tuple[str, str]:
    """`Node title.input` as (title, input); `setting`, as written, names it when it is not one."""
    title, dot, input_name = name.rpartition(".")
    if not dot or not title or not input_name:
        raise AtelierError("knob-format", setting=setting)
    return title, input_name


def apply_settings(job: Job, settings: list[str], node_list: NodeList) -> None:
    """Apply `Title.input=value` settings, checking each against the node list first."""
    for setting in settings:
        name, separator, raw = setting.partition("=")
        if not separator:
            raise AtelierError("knob-format", setting=setting)
        title, input_name = knob_name(name, setting)
        nodes = [(k, n) for k, n in job.prompt.items() if n.get("_meta", {}).get("title") == title]
        spec = node_list.input_spec(nodes[0][1]["class_type"], input_name) if len(nodes) == 1 else None
        if spec is None:
            raise AtelierError("knob-unknown", setting=setting, title=title, input=input_name)
        value = yaml.safe_load(raw) if raw.strip() else ""
        kind, options = spec
        if kind == "STRING":
            value = raw
        elif kind == "FLOAT" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not fits(value, kind, options):
            raise AtelierError(
                "knob-value", setting=setting, input=input_name, expected=expected(kind, options) or str(kind).lower()
            )
        node_id, node = nodes[0]
        _set_widget(job, node_id, input_name, node["inputs"].get(input_name), value, node_list)
        node["inputs"][input_name] = value


def _set_widget(job: Job, node_id: str, input_name: str, old: Any, value: Any, node_list: NodeList) -> None:
    """The same setting on the canvas copy, which outputs carry: dragged onto ComfyUI, a picture
    must open with the value it was made with, not the lesson's.

    The canvas keeps a flat list of widget values; the one that is `input_name` is the one
    whose change the converter carries into that input (tried only where values repeat).
    """
    node = next((n for n in job.workflow.get("nodes", []) if str(n.get("id")) == str(node_id)), None)
    values = node.get("widgets_values") if node else None
    if not isinstance(values, list):
        return
    candidates = [i for i, v in enumerate(values) if v == old and type(v) is type(old)]
    if len(candidates) > 1:
        candidates = [i for i in candidates if _carries(job, node, i, node_id, input_name, node_list)]
    if len(candidates) == 1:  # a changed copy of the node: the lesson's own workflow stays as it is
        changed = {**node, "widgets_values": [*values[: candidates[0]], value, *values[candidates[0] + 1 :]]}
        job.workflow = {**job.workflow, "nodes": [changed if n is node else n for n in job.workflow["nodes"]]}


def _carries(job: Job, node: dict[str, Any], index: int, node_id: str, input_name: str, node_list: NodeList) -> bool:
    values = list(node["widgets_values"])
    marker = values[index] + 1 if isinstance(values[index], (int, float)) else f"{values[index]}\u2063"
    values[index] = marker
    trial = {
        **job.workflow,
        "nodes": [{**n, "widgets_values": values} if n is node else n for n in job.workflow["nodes"]],
    }
    try:
        prompt, _ = to_api(trial, node_list, job.source)
    except AtelierError:
        return False
    return prompt.get(str(node_id), {}).get("inputs", {}).get(input_name) == marker


def _title(job: Job, node_id: Any) -> str:
    return str(job.prompt.get(str(node_id), {}).get("_meta", {}).get("title", node_id))


def _model_folder(job: Job, name: str) -> str:
    for node in job.workflow.get("nodes", []):
        for model in node.get("properties", {}).get("models", []) or []:
            if model.get("name") == name:
                return str(model.get("directory", "models"))
    return "models"


def _rejection(job: Job, details: dict[str, Any], node_list: NodeList) -> AtelierError:
    """Turn ComfyUI's 400 answer into the most useful single message."""
    for node_id, problem in details.get("node_errors", {}).items():
        for error in problem.get("errors", []):
            info = error.get("extra_info", {})
            name = info.get("input_name", "")
            spec = node_list.input_spec(problem.get("class_type", ""), name)
            if error.get("type") == "value_not_in_list" and spec and spec[1].get("files"):
                model = str(info.get("received_value", ""))
                return AtelierError(
                    "missing-model",
                    name=model,
                    folder=_model_folder(job, model),
                    module=job.module.slug if job.module else job.source.stem,
                )
        first = (problem.get("errors") or [{}])[0]
        detail = first.get("details") or first.get("message") or "invalid"
        return AtelierError("workflow-rejected", node=node_id, title=_title(job, node_id), detail=detail)
    message = details.get("error", {}).get("message", "rejected")
    return AtelierError("workflow-rejected", node="-", title="workflow", detail=message)


# Loaders whose file list ComfyUI does not validate fail only when they run.
MODEL_NOT_FOUND = re.compile(r"Model in folder '([^']+)' with filename '([^']+)' not found")
# A save that found the disk (or the home's quota) full: ENOSPC or EDQUOT, as Python words them.
NO_SPACE = re.compile(r"\[Errno (?:28|122)\]|No space left on device|Disk quota exceeded", re.IGNORECASE)


def _failure(job: Job, data: dict[str, Any]) -> AtelierError:
    node = data.get("node_id", "?")
    text = f"{data.get('exception_type', '')} {data.get('exception_message', '')}"
    if "OutOfMemory" in text or "out of memory" in text.lower():
        return AtelierError("out-of-memory", node=node, title=_title(job, node))
    if NO_SPACE.search(text):
        return AtelierError("folder-full", node=node, title=_title(job, node))
    if missing := MODEL_NOT_FOUND.search(text):
        return AtelierError(
            "missing-model",
            name=missing.group(2),
            folder=missing.group(1),
            module=job.module.slug if job.module else job.source.stem,
        )
    detail = str(data.get("exception_message", "error")).strip().splitlines()[0][:200].rstrip(".")
    return AtelierError("run-failed", node=node, title=_title(job, node), detail=detail)


def _comfy_seconds(history: dict[str, Any]) -> float | None:
    stamps = {kind: data.get("timestamp") for kind, data in history.get("status", {}).get("messages", [])}
    if stamps.get("execution_start") and stamps.get("execution_success"):
        return (stamps["execution_success"] - stamps["execution_start"]) / 1000
    return None


def execute(
    client: ComfyClient,
    job: Job,
    out: Path,
    node_list: NodeList,
    timeout: float = 3600.0,
    on_progress: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Run `job` on the server and download what it makes into `out`."""
    for path in job.inputs:
        client.upload(path)
    started = time.monotonic()
    total = len(job.prompt)
    done: set[str] = set()
    with client.events() as events:
        try:
            prompt_id = client.submit(job.prompt, job.workflow)
        except Rejected as rejected:
            raise _rejection(job, rejected.details, node_list) from None
        for kind, data in events:
            if kind == "closed":
                raise AtelierError("server-died")
            if time.monotonic() - started > timeout:
                with contextlib.suppress(AtelierError):
                    client.post_json("/interrupt", {})  # free the server for the next job
                raise AtelierError("run-timeout", seconds=f"{timeout:g}")
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "execution_cached":
                done.update(str(n) for n in data.get("nodes", []))
            elif kind == "executing":
                if data.get("node") is None:
                    break
                if on_progress:
                    on_progress(Progress(_title(job, data["node"]), len(done), total))
                done.add(str(data["node"]))
            elif kind == "progress" and on_progress:
                on_progress(
                    Progress(
                        _title(job, data.get("node")),
                        len(done),
                        total,
                        int(data.get("value", 0)),
                        int(data.get("max", 0)),
                    )
                )
            elif kind == "execution_error":
                raise _failure(job, data)
            elif kind == "execution_interrupted":
                raise AtelierError(
                    "run-failed",
                    node=data.get("node_id", "?"),
                    title=_title(job, data.get("node_id")),
                    detail="it was interrupted",
                )
    history = client.history(prompt_id)
    outputs = [
        client.download(item, out)
        for node_output in history.get("outputs", {}).values()
        for key in OUTPUT_LISTS
        for item in node_output.get(key, []) or []
        if isinstance(item, dict) and item.get("filename") and item.get("type", "output") == "output"
    ]
    return RunResult(prompt_id, outputs, time.monotonic() - started, _comfy_seconds(history))


# What the smoke check asks of a CPU: the same graph and models, less work. Any node's input
# of these names is held at most to the value; picture and video sizes keep their shape.
SMOKE_LIMITS = {"steps": 2, "seconds": 5.0, "octree_resolution": 32}
SMOKE_IMAGE_SIDE = 512  # a picture's longer side (SDXL's 1024² becomes 512²)
SMOKE_VIDEO_SIDE, SMOKE_FRAMES = 160, 9  # a video's longer side, and its frames (Wan makes 4k+1)
SMOKE_BY_NODE = {"EmptyLatentHunyuan3Dv2": {"resolution": 512}}  # the 3D latent's length


def _cap(capped: dict[str, dict[Any, Any]], inputs: dict[str, Any], name: str, most: Any) -> None:
    value = inputs.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > most:
        inputs[name] = type(value)(most)
        capped.setdefault(name, {})[value] = inputs[name]


def smoke_settings(
    job: Job,
    max_steps: int = SMOKE_LIMITS["steps"],
    keep: set[str] | frozenset[str] = frozenset(),
    image_side: int = SMOKE_IMAGE_SIDE,
) -> Job:
    """A copy of `job` that a CPU makes in minutes: steps, sizes, frames and seconds held down.

    What was changed is kept in `capped`, so the check expects outputs of the size asked for.
    `keep` names settings ("Node title.input") left as they are: a sweep of steps on a CPU
    must still make each picture with its own number of steps. Sizes are always made
    smaller, in the shape the kept width and height give.
    """
    quick = copy.deepcopy(job)
    for node in quick.prompt.values():
        inputs = node.get("inputs", {})
        title = node.get("_meta", {}).get("title", "")
        kept = {name for name in inputs if f"{title}.{name}" in keep}
        for name, most in {**SMOKE_LIMITS, "steps": max_steps, **SMOKE_BY_NODE.get(node.get("class_type"), {})}.items():
            if name not in kept:
                _cap(quick.capped, inputs, name, most)
        width, height = inputs.get("width"), inputs.get("height")
        if isinstance(width, int) and isinstance(height, int) and not isinstance(width, bool):
            video = isinstance(inputs.get("length"), int)
            side = SMOKE_VIDEO_SIDE if video else image_side
            scale = side / max(width, height)
            if scale < 1:  # a varied width or height too: the smaller picture keeps the shape it gives
                step = 16 if video else 8  # the latent's grid
                for name, value in (("width", width), ("height", height)):
                    _cap(quick.capped, inputs, name, max(step, round(value * scale / step) * step))
            if video and "length" not in kept:
                _cap(quick.capped, inputs, "length", SMOKE_FRAMES)
    return quick


def capped_outputs(expected: list[dict[str, Any]], job: Job) -> list[dict[str, Any]]:
    """What a smoke run should make: module.yaml's outputs at the sizes `smoke_settings` asked for."""
    fields = {"width": "width", "height": "height", "frames": "length", "seconds": "seconds"}
    return [
        {key: job.capped.get(fields.get(key, ""), {}).get(value, value) for key, value in spec.items()}
        for spec in expected
    ]
