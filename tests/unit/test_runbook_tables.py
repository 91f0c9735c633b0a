"""The Runbook's generated tables follow their sources: change a source, and the table changes."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import yaml

from atelier.hpc.profiles import CLUSTERS, load_profile
from atelier.hpc.store import declared
from atelier.lessons.modules import all_modules, load_module
from atelier.lessons.pin import CustomNode, load_pin
from atelier.site import plugin as sitepages
from atelier.site.pages import runbook

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def copy_module(tmp_path: Path, slug: str) -> Path:
    folder = tmp_path / slug
    shutil.copytree(ROOT / "workflows" / slug, folder)
    return folder


def set_bytes(folder: Path, name: str, count: int | None) -> None:
    path = folder / "module.yaml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    for model in meta["models"]:
        if model["name"] == name:
            model.pop("bytes", None)
            if count is not None:
                model["bytes"] = count
    path.write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")


def test_every_declared_model_is_in_the_tables() -> None:
    modules = all_modules(ROOT / "workflows")
    sizes, layout = runbook.model_store_sizes(modules), runbook.store_layout(modules)
    for model in declared(modules):
        assert f"| `{model.name}` | `{model.directory}` |" in sizes
        assert f"\n    {model.name}\n" in layout
    for module in modules:
        assert f"| [{module.slug}](../lessons/{module.slug}.md) |" in sizes


def test_a_changed_size_in_module_yaml_changes_the_module_and_the_total(tmp_path: Path) -> None:
    folder = copy_module(tmp_path, "upscale-with-model")
    name = load_module(folder).meta["models"][0]["name"]
    set_bytes(folder, name, 2_500_000_000)
    table = runbook.model_store_sizes([load_module(folder)])
    assert f"| `{name}` | 2.5 GB |" in table
    assert "**The whole store, every module: 1 file, 2.5 GB.**" in table
    set_bytes(folder, name, 40_000_000)
    table = runbook.model_store_sizes([load_module(folder)])
    assert f"| `{name}` | 40 MB |" in table and "2.5 GB" not in table


def test_a_shared_file_counts_once_and_a_missing_size_is_said(tmp_path: Path) -> None:
    first, second = copy_module(tmp_path, "txt2img-basics"), copy_module(tmp_path, "img2img")
    shared = load_module(first).meta["models"][0]["name"]
    modules = [load_module(first), load_module(second)]
    assert declared(modules)[0].name == shared and len(declared(modules)) == 1
    one = runbook.model_store_sizes(modules[:1])
    both = runbook.model_store_sizes(modules)
    assert one.split("**")[1].split(": ", 1)[1] == both.split("**")[1].split(": ", 1)[1]
    assert "| img2img, txt2img-basics |" in both
    set_bytes(first, shared, None)
    set_bytes(second, shared, None)
    table = runbook.model_store_sizes([load_module(first), load_module(second)])
    assert "not stated" in table and "(the size of 1 file is not stated)" not in table


def test_a_changed_licence_changes_the_table(tmp_path: Path) -> None:
    folder = copy_module(tmp_path, "lora")
    path = folder / "module.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("CreativeML Open RAIL++-M", "Some Other Licence"), encoding="utf-8"
    )
    assert "Some Other Licence" in runbook.model_store_sizes([load_module(folder)])


def test_a_changed_profile_moves_the_store(tmp_path: Path) -> None:
    text = (CLUSTERS / "pegasus.yaml").read_text(encoding="utf-8")
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text(text.replace("models: /groups/atelier/models", "models: /projects/art/models"), encoding="utf-8")
    table = runbook.store_locations([load_profile(str(moved))])
    assert "| Pegasus | `/projects/art/models` |" in table
    assert "  base_path: /projects/art/models\n" in table
    assert "/groups/atelier/models" not in table


def test_the_pinned_custom_nodes_are_listed() -> None:
    pin = load_pin(ROOT / "workflows" / "pin.yaml")
    assert "lists **no custom nodes**" in runbook.custom_nodes_table(dataclasses.replace(pin, custom_nodes=[]))
    pinned = dataclasses.replace(
        pin, custom_nodes=[CustomNode("https://github.com/example/ComfyUI-Example.git", COMMIT)]
    )
    table = runbook.custom_nodes_table(pinned)
    assert (
        f"| https://github.com/example/ComfyUI-Example.git | `{COMMIT}` | `ComfyUI/custom_nodes/ComfyUI-Example` |"
        in table
    )


def test_the_lint_example_is_the_registered_message() -> None:
    example = runbook.unknown_node_example("9.9.9")
    assert "is of type UltralyticsDetectorProvider, which ComfyUI 9.9.9 does not have." in example
    assert example.startswith("```text\nerror: ") and example.endswith("\n```")


def test_every_marker_is_registered_and_used_in_the_runbook() -> None:
    pages = "\n".join(path.read_text(encoding="utf-8") for path in RUNBOOK.glob("*.md"))
    for marker, make in runbook.MARKERS.items():
        assert sitepages.MARKERS[marker] is make
        assert marker in pages, f"{marker} is registered but no Runbook page holds it"
