"""Each module's UI workflow converts to the same API prompt as its golden file.

The golden files pin what comfy-cli's converter makes of our workflows; a change in the
converter, the node list or a workflow shows up here as a readable diff. After a
deliberate change, regenerate with ATELIER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from atelier.lessons.convert import to_api
from atelier.lessons.modules import all_modules
from atelier.lessons.nodes import load_node_list

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
MODULES = all_modules(ROOT / "workflows")


def test_every_module_has_a_golden_file() -> None:
    assert sorted(p.stem.removesuffix(".api") for p in GOLDEN.glob("*.api.json")) == sorted(m.slug for m in MODULES)


@pytest.mark.parametrize("module", MODULES, ids=[m.slug for m in MODULES])
def test_conversion_matches_golden(module) -> None:
    prompt, warnings = to_api(
        module.workflow, load_node_list(ROOT / "workflows" / "nodes" / "object_info.json"), module.workflow_path
    )
    assert warnings == []
    golden = GOLDEN / f"{module.slug}.api.json"
    if os.environ.get("ATELIER_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(prompt, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    assert prompt == json.loads(golden.read_text()), f"{module.slug}: conversion differs from {golden.name}"
    note_ids = {str(n["id"]) for n in module.notes()}
    assert note_ids.isdisjoint(prompt), "notes never reach ComfyUI"
