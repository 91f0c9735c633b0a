"""`atelier new-module`: a wizard whose output lints clean, and plain refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")
SOURCES = sorted(p.name for p in (ROOT / "workflows").iterdir() if (p / "module.yaml").exists())


def atelier(cwd: Path, *args: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, *args], cwd=cwd, input=answers, capture_output=True, text=True)


def from_workflow(export: Path, slug: str, title: str, root: Path) -> subprocess.CompletedProcess[str]:
    """`atelier new-module --from-workflow`, every question answered on the command line."""
    return atelier(
        ROOT,
        "new-module",
        slug,
        "--from-workflow",
        str(export),
        "--title",
        title,
        "--level",
        "first-year",
        "--root",
        str(root),
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    return tmp_path


def test_the_wizard_asks_and_the_result_lints_clean(project: Path) -> None:
    result = atelier(project, "new-module", "charcoal-portraits", answers="Charcoal: portraits\nimage\nfirst-year\n")
    assert result.returncode == 0, result.stderr
    assert "Title students will see: " in result.stdout
    assert "Made workflows/charcoal-portraits/ from txt2img-basics." in result.stdout
    meta = yaml.safe_load((project / "workflows/charcoal-portraits/module.yaml").read_text())
    assert (meta["title"], meta["modality"], meta["level"]) == ("Charcoal: portraits", "image", "first-year")
    assert meta["prerequisites"] == ["txt2img-basics"]
    new = json.loads((project / "workflows/charcoal-portraits/workflow.json").read_text())
    old = json.loads((ROOT / "workflows/txt2img-basics/workflow.json").read_text())
    assert new["nodes"] == old["nodes"] and new["id"] != old["id"]
    lint = atelier(project, "lint", "workflows/charcoal-portraits")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "1 module(s) checked: 1 clean" in lint.stdout


@pytest.mark.parametrize("source", SOURCES)
def test_every_module_can_be_a_starting_point(project: Path, source: str) -> None:
    result = atelier(
        project,
        "new-module",
        "copy-of-it",
        "--from",
        source,
        "--title",
        "Copy",
        "--modality",
        "image",
        "--level",
        "advanced",
    )
    assert result.returncode == 0, result.stderr
    lint = atelier(project, "lint", "workflows/copy-of-it")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    if (ROOT / "workflows" / source / "inputs").is_dir():
        assert sorted(p.name for p in (project / "workflows/copy-of-it/inputs").iterdir()) == sorted(
            p.name for p in (ROOT / "workflows" / source / "inputs").iterdir()
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["Charcoal Portraits"],
            "Error: The name 'Charcoal Portraits' can't be used for a module. Use lower-case letters, digits "
            "and single dashes, like 'charcoal-portraits'.",
        ),
        (["img2img"], "Error: workflows/img2img already exists. Choose another name, or edit that module instead."),
        (
            ["sketching", "--from", "nope"],
            "Error: There is no lesson module 'nope': no module folder at that path, and none of that name in "
            f"workflows. Give a module by its name or its folder; the modules there are: {', '.join(SOURCES)}.",
        ),
    ],
)
def test_refusals_are_plain(project: Path, args: list[str], message: str) -> None:
    result = atelier(project, "new-module", *args, "--title", "T", "--modality", "image", "--level", "first-year")
    assert result.returncode == 2
    assert result.stderr == message + "\n"


def test_a_module_from_a_workflow_fills_in_what_the_workflow_says_and_lint_asks_for_the_rest(tmp_path: Path) -> None:
    """A teacher's export becomes a module: size, models, knobs worked out; lesson text left for them."""
    exported = json.loads((ROOT / "workflows" / "txt2img-basics" / "workflow.json").read_text())
    export = tmp_path / "my export.json"
    export.write_text(json.dumps(exported))
    made = from_workflow(export, "still-life", "Still life", tmp_path / "modules")
    assert made.returncode == 0, made.stderr
    meta = yaml.safe_load((tmp_path / "modules" / "still-life" / "module.yaml").read_text())
    assert (meta["title"], meta["modality"], meta["level"]) == ("Still life", "image", "first-year")
    assert meta["outputs"] == [{"kind": "image", "count": 1, "width": 512, "height": 512}]
    assert [m["name"] for m in meta["models"]] == ["v1-5-pruned-emaonly.safetensors"]
    assert {(k["node"], k["input"]) for k in meta["knobs"]} >= {("KSampler", "seed"), ("KSampler", "steps")}
    assert meta["knobs"][0]["try"][0] == 42  # the workflow's own value first
    linted = atelier(ROOT, "lint", str(tmp_path / "modules" / "still-life"))
    asked = sorted(
        line.split("module.yaml: ", 1)[1].split(" ")[0]
        for line in linted.stderr.splitlines()
        if "module.yaml: '" in line
    )
    assert asked == [
        "'exercises'",
        "'gpu_memory_gb'",
        "'key_points'",
        "'minutes.exercises'",
        "'minutes.teaching'",
        "'models[0].licence'",
        "'models[0].licence_url'",
        "'objectives'",
        "'questions'",
    ]
    assert "knobs" not in linted.stderr and "outputs" not in linted.stderr  # nothing it worked out is asked again
    error_lines = [line for line in linted.stderr.splitlines() if line.startswith("error: ")]
    assert f"{len(error_lines)} thing(s) only you can write" in made.stdout


def test_a_workflow_that_saves_nothing_or_cannot_run_makes_no_module(tmp_path: Path) -> None:
    workflow = json.loads((ROOT / "workflows" / "txt2img-basics" / "workflow.json").read_text())
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "SaveImage"]
    saved_ids = {n["id"] for n in workflow["nodes"]}
    workflow["links"] = [link for link in workflow["links"] if link[1] in saved_ids and link[3] in saved_ids]
    export = tmp_path / "nothing.json"
    export.write_text(json.dumps(workflow))
    made = from_workflow(export, "nothing", "N", tmp_path / "modules")
    assert made.returncode == 2 and "saves nothing" in made.stderr, made.stderr
    assert not (tmp_path / "modules" / "nothing").exists()
