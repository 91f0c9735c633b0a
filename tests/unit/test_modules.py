"""A module's two files, read once: module.yaml into typed fields, the workflow's declared models."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from atelier.comfy.testmodels import module_models
from atelier.fields import Fields, of_type
from atelier.hpc.store import declared
from atelier.lessons.lint import check_meta
from atelier.lessons.modules import all_modules, load_module
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]


def test_a_broken_module_yaml_still_loads_and_lint_names_every_problem_in_field_order(tmp_path: Path) -> None:
    folder = tmp_path / "portraits"
    shutil.copytree(ROOT / "workflows" / "txt2img-basics", folder)
    meta = yaml.safe_load((folder / "module.yaml").read_text())
    del meta["title"]
    meta.update(level="expert", prerequisites=["colour-theory"], gpu_memory_gb="lots")
    meta["outputs"][0]["kind"] = "png"
    (folder / "module.yaml").write_text(yaml.safe_dump(meta))
    module = load_module(folder)
    assert (module.title, module.about.level, module.about.gpu_memory_gb) == ("portraits", None, 0)
    assert module.about.minutes.total == 35 and module.about.prerequisites == ("colour-theory",)
    file = folder / "module.yaml"
    assert [finding.text for finding in check_meta(module, {"portraits"})] == [
        f"{file}: 'title' is missing.",
        f"{file}: 'level' is 'expert', expected one of first-year, intermediate, advanced.",
        f"{file}: prerequisite 'colour-theory' is not a module in {tmp_path}.",
        f"{file}: 'outputs[0].kind' is 'png', expected one of image, video, audio, mesh.",
        f"{file}: 'gpu_memory_gb' is 'lots', expected a number above 0.",
    ]


def test_every_reader_of_the_declared_models_gets_the_same_list() -> None:
    for module in all_modules(ROOT / "workflows"):
        models = module.models()
        assert models, module.slug
        assert module_models(module) == [(m.name, m.directory) for m in models]
        assert [(f.name, f.url, f.directory, f.sha256) for f in declared([module])] == [
            (m.name, m.url, m.directory, m.sha256) for m in models
        ]
        assert {m.name for m in module.about.models} == {m.name for m in models}, module.slug  # each has a licence


def test_a_field_is_raised_by_a_loader_and_collected_by_lint(tmp_path: Path) -> None:
    data = {"gpus": {"a100": {"title": 7}}}
    with pytest.raises(AtelierError) as raised:
        Fields("cluster-field", tmp_path / "x.yaml", data).section(data["gpus"]["a100"], "gpus.a100").get(
            "title", of_type(str)
        )
    assert str(raised.value).startswith(f"{tmp_path / 'x.yaml'}: 'gpus.a100.title' is 7, expected str. ")
    found: list = []
    fields = Fields("lint-module-field", tmp_path / "module.yaml", ["not", "a", "mapping"], found)
    assert fields.get("title", default="none") == "none"
    assert [f.text for f in found] == [
        f"{tmp_path / 'module.yaml'}: '(top level)' must be a mapping of fields.",
        f"{tmp_path / 'module.yaml'}: 'title' is missing.",
    ]
