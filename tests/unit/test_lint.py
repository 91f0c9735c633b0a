"""Lint on every real module, and on deliberately broken ones: exact messages, exit 1."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")
BASE = "txt2img-basics"
WF = f"workflows/{BASE}/workflow.json"
META = f"workflows/{BASE}/module.yaml"


def lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, "lint", *args], cwd=cwd, capture_output=True, text=True)


def test_every_module_lints_clean() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    modules = [p for p in (ROOT / "workflows").iterdir() if (p / "module.yaml").exists()]
    assert f"{len(modules)} module(s) checked: {len(modules)} clean, 0 with errors" in result.stdout
    assert "error:" not in result.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A throwaway project: the pin, the node list and one good module."""
    (tmp_path / "workflows").mkdir()
    shutil.copy2(ROOT / "workflows" / "pin.yaml", tmp_path / "workflows")
    shutil.copytree(ROOT / "workflows" / "nodes", tmp_path / "workflows" / "nodes")
    shutil.copytree(ROOT / "workflows" / BASE, tmp_path / "workflows" / BASE)
    return tmp_path


def edit_workflow(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        path = project / WF
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))

    return apply


def edit_meta(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        path = project / META
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data))

    return apply


def node(data: dict[str, Any], node_id: int) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def set_widget(node_id: int, index: int, value: Any) -> Callable[[Path], None]:
    return edit_workflow(lambda d: node(d, node_id)["widgets_values"].__setitem__(index, value))


def write(relative: str, text: str) -> Callable[[Path], None]:
    return lambda project: (project / relative).write_text(text)


def drop_link(data: dict[str, Any]) -> None:
    data["links"] = [link for link in data["links"] if link[0] != 1]  # checkpoint MODEL -> KSampler


def cross_wire(data: dict[str, Any]) -> None:
    data["links"][0][2] = 1  # the checkpoint's CLIP output into KSampler's model input


def add_prerequisite(data: dict[str, Any]) -> None:
    data["prerequisites"] = ["colour-theory"]


SAMPLERS = "euler, euler_cfg_pp, euler_ancestral, euler_ancestral_cfg_pp, heun, heunpp2, dpm_2, dpm_2_ancestral, …"
CASES = {
    "unknown node": (
        edit_workflow(lambda d: node(d, 6).__setitem__("type", "VAEDecodeFancy")),
        f"{WF}: node 6 'VAE Decode' is of type VAEDecodeFancy, which ComfyUI 0.3.64 does not have.",
    ),
    "online service node": (
        edit_workflow(lambda d: node(d, 6).__setitem__("type", "OpenAIDalle3")),
        f"{WF}: node 6 'VAE Decode' is of type OpenAIDalle3, which sends the work to an outside paid service.",
    ),
    "bad choice": (
        set_widget(5, 4, "eulerr"),
        f"{WF}: node 5 'KSampler': sampler_name is 'eulerr', expected one of {SAMPLERS}.",
    ),
    "out-of-range number": (
        set_widget(5, 3, 150),
        f"{WF}: node 5 'KSampler': cfg is 150, expected a number from 0.0 to 100.0.",
    ),
    "wrong kind of value": (
        set_widget(5, 2, "twenty"),
        f"{WF}: node 5 'KSampler': steps is 'twenty', expected a whole number from 1 to 10000.",
    ),
    "undeclared model": (
        edit_workflow(lambda d: node(d, 1)["properties"].pop("models")),
        f"{WF}: node 1 'Load Checkpoint' loads v1-5-pruned-emaonly.safetensors, "
        "which its properties.models does not declare.",
    ),
    "model without url": (
        edit_workflow(lambda d: node(d, 1)["properties"]["models"][0].pop("url")),
        f"{WF}: node 1 'Load Checkpoint': model v1-5-pruned-emaonly.safetensors has no url.",
    ),
    "model without licence": (
        edit_meta(lambda m: m["models"][0].pop("licence")),
        f"{META}: 'models[0].licence' is missing.",
    ),
    "dangling link": (edit_workflow(drop_link), f"{WF}: link 1 is named by node 5 but is not in the workflow."),
    "link between mismatched types": (
        edit_workflow(cross_wire),
        f"{WF}: link 1 joins CLIP from node 1 'Load Checkpoint' "
        "to input model of node 5 'KSampler', which takes MODEL.",
    ),
    "knob on a missing input": (
        edit_meta(lambda m: m["knobs"][1].__setitem__("input", "colour")),
        f"{META}: knob 'KSampler.colour' names input colour, but a KSampler node has no such input.",
    ),
    "knob on a missing node": (
        edit_meta(lambda m: m["knobs"][1].__setitem__("node", "Painter")),
        f"{META}: knob 'Painter.seed' names node 'Painter', but no node has that title.",
    ),
    "unknown prerequisite": (
        edit_meta(add_prerequisite),
        f"{META}: prerequisite 'colour-theory' is not a module in workflows.",
    ),
    "missing objectives": (edit_meta(lambda m: m.pop("objectives")), f"{META}: 'objectives' is missing."),
    "bad level": (
        edit_meta(lambda m: m.__setitem__("level", "expert")),
        f"{META}: 'level' is 'expert', expected one of first-year, intermediate, advanced.",
    ),
    "malformed JSON": (
        write(WF, '{"nodes": [\n  {"id": 1,,}\n]}'),
        f"{WF} is not valid JSON (line 2, column 12: Expecting property name enclosed in double quotes).",
    ),
    "missing file": (lambda project: (project / META).unlink(), f"workflows/{BASE} has no module.yaml."),
    "malformed YAML": (
        write(META, "title: Your first image\nobjectives:\n  - one\n - two\n"),
        f"{META} is not valid YAML (line 4: expected <block end>, but found '<block sequence start>').",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_broken_module_fails_with_exact_message(project: Path, case: str) -> None:
    breaks, expected = CASES[case]
    breaks(project)
    result = lint(project)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any(line.startswith(f"error: {expected} ") for line in errors), "\n".join(errors)
    assert "Traceback" not in result.stderr
    assert "1 module(s) checked: 0 clean, 1 with errors" in result.stdout


def test_a_missing_hash_is_only_a_warning(project: Path) -> None:
    edit_workflow(lambda d: node(d, 1)["properties"]["models"][0].pop("hash"))(project)
    result = lint(project)
    assert result.returncode == 0
    assert result.stdout.startswith(
        f"warning: {WF}: node 1 'Load Checkpoint': model "
        "v1-5-pruned-emaonly.safetensors has no sha256 from its publisher."
    )


def test_a_stale_node_list_is_reported(project: Path) -> None:
    pin_file = project / "workflows" / "pin.yaml"
    pin_file.write_text(pin_file.read_text().replace("version: 0.3.64", "version: 0.3.65"))
    result = lint(project)
    assert "error: The node list is from ComfyUI 0.3.64, but the semester pin is 0.3.65." in result.stderr
    assert result.returncode == 1


def test_no_module_at_the_path(project: Path) -> None:
    result = lint(project, "workflows/nodes")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: workflows/nodes holds no lesson module")


# --- a workflow a teacher brings: no module.yaml, only what a run needs ------------------


def exported(
    project: Path, change: Callable[[dict[str, Any]], None] = lambda d: None, name: str = "portrait.json"
) -> Path:
    """The lesson's workflow as ComfyUI exports it: a file in a folder of the teacher's, no module.yaml."""
    data = json.loads((project / WF).read_text())
    change(data)
    path = project / "downloads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_plain_workflow_is_checked_for_what_a_run_needs(project: Path) -> None:
    def as_user_saved(data: dict[str, Any]) -> None:
        for each in data["nodes"]:
            each.get("properties", {}).pop("models", None)  # a user's export declares no download addresses

    path = exported(project, as_user_saved)
    result = lint(project, str(path))
    assert result.returncode == 0, result.stderr
    assert "loads v1-5-pruned-emaonly.safetensors, which its properties.models does not declare" in result.stdout
    assert result.stdout.startswith("warning: ")  # a warning: the store may have it; a lesson must say where from
    assert "module.yaml" not in result.stdout + result.stderr  # nothing about what only lessons need
    assert result.stdout.endswith("1 workflow file(s) checked: 1 clean, 0 with errors (0 error(s), 1 warning(s)).\n")


def test_an_older_template_s_true_false_seed_control_is_read(project: Path) -> None:
    """ComfyUI's own templates saved 'control after generate' as true; the converter knows only its words."""
    from atelier.lessons.convert import to_api
    from atelier.lessons.nodes import load_node_list

    def older(data: dict[str, Any]) -> None:
        sampler = next(n for n in data["nodes"] if n["type"] == "KSampler")
        assert sampler["widgets_values"][1] == "fixed"
        sampler["widgets_values"][1] = True

    path = exported(project, older)
    assert lint(project, str(path)).returncode == 0
    prompt, _ = to_api(json.loads(path.read_text()), load_node_list(project / "workflows/nodes/object_info.json"), path)
    sampler = next(n for n in prompt.values() if n["class_type"] == "KSampler")["inputs"]
    assert (sampler["seed"], sampler["steps"], sampler["sampler_name"]) == (42, 20, "euler")


def test_a_plain_workflow_that_cannot_run_is_refused_per_node_and_field(project: Path) -> None:
    def broken(data: dict[str, Any]) -> None:
        next(n for n in data["nodes"] if n["type"] == "KSampler")["widgets_values"][4] = "no-such-sampler"

    path = exported(project, broken)
    result = lint(project, str(path))
    assert result.returncode == 1
    sampler = next(n for n in json.loads(path.read_text())["nodes"] if n["type"] == "KSampler")
    assert (
        f"error: {path}: node {sampler['id']} 'KSampler': sampler_name is 'no-such-sampler', expected one of"
        in result.stderr
    )
    run = subprocess.run(
        [ATELIER, "run", str(path)],
        cwd=project,
        capture_output=True,
        text=True,
        env={k: v for k, v in __import__("os").environ.items() if k not in ("COMFYUI_DIR", "ATELIER_PREFIX")},
    )
    assert run.returncode == 2, run.stderr
    assert "sampler_name is 'no-such-sampler'" in run.stderr
    assert run.stderr.rstrip().endswith(
        "Fix them on the ComfyUI canvas and export the workflow again; nothing was run."
    )
    assert "ComfyUI was not found" not in run.stderr and "Traceback" not in run.stderr  # refused before starting one


def test_a_subgraph_and_an_api_file_are_named_plainly(project: Path) -> None:
    def folded(data: dict[str, Any]) -> None:
        sampler = next(n for n in data["nodes"] if n["type"] == "KSampler")
        sampler["type"] = "29e4c068-002a-4910-a943-b26a4c0626c3"
        data["definitions"] = {"subgraphs": [{"id": sampler["type"], "name": "Grow and Blur Mask"}]}

    path = exported(project, folded)
    api = project / "downloads" / "prompt.json"
    api.write_text(json.dumps({"3": {"class_type": "KSampler", "inputs": {}}}))
    result = lint(project, str(path), str(api))
    assert result.returncode == 1
    assert "is a subgraph (several nodes folded into one)" in result.stderr and "Unpack Subgraph" in result.stderr
    assert "prompt.json is not a workflow as ComfyUI's canvas saves it" in result.stderr
    assert "2 workflow file(s) checked: 0 clean, 2 with errors" in result.stdout


# --- custom nodes ---------------------------------------------------------------------

DEPTH = "depth-controlnet"


@pytest.fixture
def depth_project(project: Path) -> Path:
    """The throwaway project with the lesson that needs a custom node (its prerequisite too)."""
    for slug in (DEPTH, "controlnet"):
        shutil.copytree(ROOT / "workflows" / slug, project / "workflows" / slug)
    return project


def test_a_custom_node_without_its_licence_is_refused(depth_project: Path) -> None:
    meta = depth_project / "workflows" / DEPTH / "module.yaml"
    data = yaml.safe_load(meta.read_text())
    del data["custom_nodes"]
    meta.write_text(yaml.safe_dump(data))
    result = lint(depth_project, f"workflows/{DEPTH}")
    assert result.returncode == 1
    assert (
        f"error: workflows/{DEPTH}/module.yaml: the workflow uses DepthAnything_V2, "
        "DownloadAndLoadDepthAnythingV2Model from the custom node ComfyUI-DepthAnythingV2, but module.yaml "
        "does not say where that node is from and what its licence is."
    ) in result.stderr


@pytest.mark.parametrize(
    "pin, said",
    [
        ("custom_nodes: []\n", "but the semester pin does not pin it."),
        (
            "custom_nodes:\n  - repository: https://github.com/kijai/ComfyUI-DepthAnythingV2\n    commit: "
            + "a" * 40
            + "\n",
            "but the semester pin pins " + "a" * 40 + ".",
        ),
    ],
)
def test_a_custom_node_must_be_pinned_at_the_node_lists_commit(depth_project: Path, pin: str, said: str) -> None:
    pin_file = depth_project / "workflows" / "pin.yaml"
    text = pin_file.read_text()
    pin_file.write_text(text[: text.index("custom_nodes:")] + pin)
    result = lint(depth_project, f"workflows/{DEPTH}")
    assert result.returncode == 1
    commit = json.loads((ROOT / "workflows/nodes/object_info.json").read_text())["custom_nodes"][
        "ComfyUI-DepthAnythingV2"
    ]["commit"]
    assert (
        f"error: workflows/{DEPTH}/workflow.json needs the custom node ComfyUI-DepthAnythingV2; the node "
        f"list was made from its commit {commit}, {said}"
    ) in result.stderr


def test_the_node_list_says_where_custom_nodes_came_from() -> None:
    from atelier.lessons.nodes import load_node_list
    from atelier.lessons.pin import load_pin

    node_list = load_node_list(ROOT / "workflows/nodes/object_info.json")
    source = node_list.source_of("DepthAnything_V2")
    assert source is not None and node_list.source_of("KSampler") is None
    assert source.nodes == ("DepthAnything_V2", "DownloadAndLoadDepthAnythingV2Model")
    pinned = {(n.repository, n.commit) for n in load_pin(ROOT / "workflows/pin.yaml").custom_nodes}
    assert (source.repository, source.commit) in pinned
