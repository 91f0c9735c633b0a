"""`atelier new-module --from-workflow`: a lesson module from a workflow a teacher brings.

What the workflow itself says is worked out (what it makes and at what size, its
models, the settings worth trying); what only the teacher knows (what the lesson
teaches, its exercises, the models' licences, the minutes) is left empty with a
note, so `atelier lint` lists exactly what is still to write and nothing else.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from atelier.lessons.convert import to_api
from atelier.lessons.lint import lint_workflow
from atelier.lessons.meta import OUTPUT_FIELDS
from atelier.lessons.modules import load_workflow, node_models
from atelier.lessons.nodes import NodeList
from atelier.lessons.wizard import check_choices, new_folder, write_workflow
from atelier.messages import AtelierError

# What an output node's class makes; each saved file is one output of that kind.
SAVES = {
    "SaveImage": "image",
    "SaveAnimatedWEBP": "video",
    "SaveAnimatedPNG": "video",
    "SaveWEBM": "video",
    "SaveVideo": "video",
    "SaveAudio": "audio",
    "SaveAudioMP3": "audio",
    "SaveAudioOpus": "audio",
    "SaveGLB": "mesh",
}
MODALITY = {"image": "image", "video": "video", "audio": "audio", "mesh": "3d"}
# Settings worth trying, with one plain sentence each; found on any node that has them.
KNOBS = {
    "seed": "The random starting point: a new seed gives a new result of the same idea.",
    "steps": "How many times the sampler refines the result: more is slower and often finer.",
    "cfg": "How closely the result follows the prompt: higher is more literal.",
    "denoise": "How much of the starting picture is replaced: lower keeps more of it.",
}
FILL = "Fill in"


def _first(prompt: dict[str, Any], name: str) -> Any:
    """The first whole-number value of input `name` on any node (a size, a length, a batch)."""
    for node in prompt.values():
        value = node.get("inputs", {}).get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    return None


def _outputs(prompt: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per kind of output the workflow saves, with what its nodes say of it."""
    counts: dict[str, int] = {}
    for node in prompt.values():
        kind = SAVES.get(str(node.get("class_type")))
        if kind:
            counts[kind] = counts.get(kind, 0) + (_first(prompt, "batch_size") or 1 if kind == "image" else 1)
    sizes = {
        "width": _first(prompt, "width"),
        "height": _first(prompt, "height"),
        "frames": _first(prompt, "length"),
        "seconds": _first(prompt, "seconds"),
    }
    return [
        {"kind": kind, "count": count, **{key: sizes[key] for key in OUTPUT_FIELDS[kind]}}
        for kind, count in counts.items()
    ]


def _tries(name: str, value: float) -> list[float]:
    """The workflow's value first, then two either side of it, as a class would compare them."""
    if name == "seed":
        return [value, value + 1, value + 2]
    if name == "steps":
        return [value, max(1, int(value) // 2), int(value) * 2]
    if name == "denoise":
        return [value, round(max(0.1, value - 0.2), 2), round(min(1.0, value + 0.2), 2)]
    return [value, round(value / 2, 1), round(value * 1.5, 1)]


def _knobs(workflow: dict[str, Any], prompt: dict[str, Any]) -> list[dict[str, Any]]:
    titles = {
        str(n.get("id")): n.get("title") or n.get("type") for n in workflow.get("nodes", []) if isinstance(n, dict)
    }
    knobs = []
    for node_id, node in prompt.items():
        for name, what in KNOBS.items():
            value = node.get("inputs", {}).get(name)
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and not (name == "denoise" and value >= 1)
            ):
                knobs.append(
                    {
                        "node": titles.get(node_id, node.get("class_type")),
                        "input": name,
                        "what": what,
                        "try": _tries(name, value),
                    }
                )
    return knobs


def _models(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    names = sorted({m.name for node in workflow.get("nodes", []) if isinstance(node, dict) for m in node_models(node)})
    return [{"name": name, "licence": None, "licence_url": None} for name in names]


def module_text(title: str, level: str, prompt: dict[str, Any], workflow: dict[str, Any], source: Path) -> str:
    """module.yaml: worked-out fields with their values, the rest empty under a 'Fill in' note."""
    outputs = _outputs(prompt)
    modality = MODALITY[outputs[0]["kind"]] if outputs else None

    def block(value: Any) -> str:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100).rstrip("\n")

    missing = [f"{o['kind']} {key}" for o in outputs for key, value in o.items() if value is None]
    parts = [
        f"# module.yaml for the workflow {source.name}, made by 'atelier new-module --from-workflow'.",
        "# What the workflow says was worked out; every field under 'Fill in' is yours to write.",
        "# 'atelier lint' lists what is still empty. Write for a first-year art student.",
        "",
        block({"title": title, "modality": modality, "level": level}),
        "",
        f"# {FILL}: minutes of teaching (you show and explain) and of exercises (students work).",
        "minutes:\n  teaching:\n  exercises:",
        f"# {FILL}: two or three questions the lesson answers, in the students' own words.",
        "questions: []",
        f"# {FILL}: what students can do afterwards, each starting with a verb you could check.",
        "objectives: []",
        f"# {FILL}: the lesson in a few sentences.",
        "key_points: []",
        "prerequisites: []",
        "# The settings worth trying, found on the workflow's nodes; edit 'what' and 'try' to suit the lesson.",
        block({"knobs": _knobs(workflow, prompt)}),
        f"# {FILL}: exercises, each with a title, task, hint and solution.",
        "exercises: []",
        "# What one run makes, from the workflow's save nodes; the lesson check holds runs to it."
        + (f" {FILL}: {', '.join(missing)}." if missing else ""),
        block({"outputs": outputs}),
        f"# {FILL}: the GPU memory the module needs, in GB ('atelier bench' measures it).",
        "gpu_memory_gb:",
        f"# Every model the workflow loads. {FILL}: each one's licence and a link to its text.",
        block({"models": _models(workflow)}),
    ]
    return "\n".join(parts) + "\n"


def from_workflow(root: Path, slug: str, path: Path, title: str, level: str, node_list: NodeList) -> Path:
    """Write root/<slug>/ from a plain workflow file that runs on the pinned ComfyUI; return the folder."""
    folder = new_folder(root, slug)
    if errors := sum(not f.warning for f in lint_workflow(path, node_list)):
        raise AtelierError("run-workflow-refused", file=path, errors=errors)
    module = load_workflow(path)
    prompt, _ = to_api(module.workflow, node_list, path)
    saves = [SAVES[str(node.get("class_type"))] for node in prompt.values() if str(node.get("class_type")) in SAVES]
    if not saves:
        raise AtelierError("new-module-no-output", file=path, saves=", ".join(sorted(SAVES)))
    check_choices(MODALITY[saves[0]], level)
    write_workflow(folder, module.workflow)
    (folder / "module.yaml").write_text(module_text(title, level, prompt, module.workflow, path), encoding="utf-8")
    if (path.parent / "inputs").is_dir():  # pictures it loads, where `atelier run` finds them too
        shutil.copytree(path.parent / "inputs", folder / "inputs")
    return folder
