"""The committed node list is exactly what the pinned ComfyUI reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from atelier.cli.comfyui import pinned_nodes
from atelier.lessons.pin import load_pin

ROOT = Path(__file__).resolve().parents[2]


def test_committed_node_list_matches_the_running_comfyui(comfy, tmp_path: Path) -> None:
    out = tmp_path / "object_info.json"
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "atelier"),
            "nodes",
            "--server",
            comfy.url,
            "--out",
            str(out),
            "--key-file",
            str(comfy.token_file),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    fresh = json.loads(out.read_text())
    committed = json.loads((ROOT / "workflows" / "nodes" / "object_info.json").read_text())
    assert fresh["comfyui_version"] == load_pin(ROOT / "workflows" / "pin.yaml").comfyui_version
    # A custom node the pin names but this ComfyUI was not told to load (ATELIER_CUSTOM_NODES) is left out.
    loaded = set(pinned_nodes())
    elsewhere = {
        name
        for folder, source in committed.get("custom_nodes", {}).items()
        if folder not in loaded
        for name in source["nodes"]
    }
    expected = {name: spec for name, spec in committed["nodes"].items() if name not in elsewhere}
    assert sorted(fresh["nodes"]) == sorted(expected), "node types differ: run 'atelier nodes'"
    assert fresh["nodes"] == expected
    assert fresh.get("custom_nodes", {}) == {
        folder: source for folder, source in committed.get("custom_nodes", {}).items() if folder in loaded
    }
    assert {"LoadAudio", "SaveAudio", "SaveGLB", "SaveVideo"} <= fresh["nodes"].keys()
    # Students' ComfyUI hides online-service nodes entirely; the committed file names them for lint.
    assert fresh["api_nodes"] == [] and "OpenAIDalle3" in committed["api_nodes"]
