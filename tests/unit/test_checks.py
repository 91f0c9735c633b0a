"""The GPU-node entry points in checks/ are valid shell and a valid CI workflow."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

CHECKS = Path(__file__).resolve().parents[2] / "checks"


def test_sbatch_script_is_valid_shell() -> None:
    script = CHECKS / "lesson-check.sbatch"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    directives = [line for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:1" in directives and any("--time=" in d for d in directives)
    text = script.read_text()
    assert "check --real" in text
    assert '"$atelier" models verify' in text and text.index("models verify") < text.index("check --real"), (
        "the nightly check reads every model again before trusting its results"
    )


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed: run ./dev test as root")
def test_sbatch_script_passes_shellcheck() -> None:
    result = subprocess.run(["shellcheck", str(CHECKS / "lesson-check.sbatch")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_ci_workflow_submits_the_script_and_keeps_reports() -> None:
    workflow = yaml.safe_load((CHECKS / "ci" / "lesson-check.yml").read_text())
    job = workflow["jobs"]["gpu"]
    assert "self-hosted" in job["runs-on"]
    commands = " ".join(step.get("run", "") for step in job["steps"])
    assert (
        "atelier check --smoke" in commands and "sbatch --wait" in commands and "checks/lesson-check.sbatch" in commands
    )
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert {"push", "schedule"} <= set(triggers)
