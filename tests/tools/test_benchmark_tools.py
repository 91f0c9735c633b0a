"""benchmarks/tools.py runs for real on the tools tier's install: each tool's start-up, round by round."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The first test here installs both tools from the package index (the session's fixture): minutes.
pytestmark = pytest.mark.timeout(1800)

ROOT = Path(__file__).resolve().parents[2]


def test_the_start_up_benchmark_times_each_tool(tool_store: Path, tool_env: dict, tmp_path: Path) -> None:
    figures = tmp_path / "tools.json"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/tools.py",
            "--models",
            str(tool_store),
            "--tools",
            "rembg",
            "invokeai",
            "--rounds",
            "1",
            "--json",
            str(figures),
        ],
        cwd=ROOT,
        env=tool_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tools = json.loads(figures.read_text())["tools"]
    assert set(tools) == {"rembg", "invokeai"} and tools["rembg"]["ratio_to_rembg"] == 1.0
    assert 0 < tools["invokeai"]["median_s"] < 300 and tools["invokeai"]["ratio_to_rembg"] > 0
