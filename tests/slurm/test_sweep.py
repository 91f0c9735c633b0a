"""`atelier sweep` as a real Slurm job array: split, killed, resumed, and its contact sheet in Chromium.

Without a ComfyUI (CI) the array still runs for real and its tasks fail the way a
student would see it. With COMFYUI_DIR set, a 2 × 2 grid runs over two tasks on the
CPU with random-weight models, one task is cancelled, and a re-run makes only what it
left.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

from playwright.sync_api import Page

from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import load_module
from tests.comfyui_env import comfyui_from_env
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_sessions import ROOT, atelier, needs_comfyui

LESSON = "workflows/txt2img-basics"
SMALL = ["--set", "KSampler.steps=2", "--set", "Image size.width=64", "--set", "Image size.height=64"]
GRID = ["--vary", "KSampler.seed=1,2", "--vary", "KSampler.cfg=4,7", *SMALL]


def squeue(slurm: SlurmCluster) -> str:
    return slurm.run("squeue", "-h", "-o", "%i %j").stdout.strip()


def test_dry_run_prints_the_grid_and_the_array_and_submits_nothing(slurm: SlurmCluster, tmp_path: Path) -> None:
    folder = tmp_path / "sweep"
    done = atelier(slurm, "sweep", LESSON, *GRID, "--gpus", "2", "--out", str(folder), "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = re.findall(r"cell-00(\d) +│ (\d) +│ ([\d.]+) +│ (\d)", done.stdout)
    assert rows == [("0", "1", "4", "0"), ("1", "1", "7", "1"), ("2", "2", "4", "0"), ("3", "2", "7", "1")], done.stdout
    assert "#SBATCH --array=0-1" in done.stdout and "sweep-task" in done.stdout
    assert f"#SBATCH --output={folder}/logs/round-1-task-%a.log" in done.stdout
    assert squeue(slurm) == "" and not folder.exists()


def test_a_sweep_whose_tasks_cannot_start_comfyui_says_so_and_keeps_its_cells(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    """No ComfyUI on the node: both tasks really run, fail, and the sweep says what is left and where the logs are."""
    folder = tmp_path / "sweep"
    done = atelier(slurm, "sweep", LESSON, *GRID, "--gpus", "2", "--out", str(folder), comfyui=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Submitted job" in done.stdout and "4 pictures over 2 tasks" in done.stdout
    assert "4 of the sweep's 4 pictures were not made" in done.stderr, done.stderr
    assert f"Run 'atelier sweep --out {folder}' again" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    for task in (0, 1):  # why each ended, from its own log
        assert f"Task {task} ended with: Error: No ComfyUI was found" in done.stdout, done.stdout
    for task in (0, 1):
        log = (folder / "logs" / f"round-1-task-{task}.log").read_text()
        assert "sweep 0/2 - starting" in log and "ComfyUI" in log and "Traceback" not in log, log
    assert not (folder / "cells").exists() or not any((folder / "cells").iterdir())


def _wait_for_line(log: Path, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.is_file() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.5)
    raise AssertionError(f"{log} never said {pattern!r}:\n{log.read_text() if log.is_file() else '(no log)'}")


@needs_comfyui
def test_a_2x2_sweep_over_two_tasks_resumes_after_a_task_is_killed(
    slurm: SlurmCluster, tmp_path: Path, page: Page
) -> None:
    checkout, python = comfyui_from_env()
    store = default_store("tiny")
    assert generate([n for n, _ in module_models(load_module(ROOT / LESSON))], store, "tiny", checkout, python) == {}
    slurm.env["ATELIER_MODELS"] = str(store)
    folder = tmp_path / "sweep"
    started = atelier(slurm, "sweep", LESSON, *GRID, "--gpus", "2", "--out", str(folder), "--no-wait")
    assert started.returncode == 0, started.stdout + started.stderr
    job = re.search(r"Submitted job (\d+)", started.stdout).group(1)

    # Task 1 is cancelled as soon as its ComfyUI answers: its cells are left for the re-run.
    _wait_for_line(folder / "logs" / "round-1-task-1.log", r"sweep 0/2 - ready", 180)
    slurm.run("scancel", f"{job}_1")
    followed = atelier(slurm, "sweep", "--out", str(folder), timeout=600)
    plan = json.loads((folder / "sweep.json").read_text())
    made = sorted(p.stem for p in (folder / "cells").glob("cell-*.json"))
    assert set(plan["rounds"][0]["tasks"][0]) <= set(made), made  # task 0 made both of its cells
    left = [c["id"] for c in plan["cells"] if c["id"] not in made]
    assert left, f"the cancelled task made every cell before it was cancelled: {made}"
    assert followed.returncode == 1, followed.stdout + followed.stderr
    assert f"{len(left)} of the sweep's 4 pictures were not made" in followed.stderr
    assert f"{len(made)} pictures of 4 made" in followed.stdout or f"{len(made)} picture of 4 made" in followed.stdout

    resumed = atelier(slurm, "sweep", "--out", str(folder), timeout=600)  # the same command, as the message says
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    plan = json.loads((folder / "sweep.json").read_text())
    assert sorted(c for task in plan["rounds"][1]["tasks"] for c in task) == sorted(left)  # only what was left
    assert len(plan["rounds"][1]["tasks"]) == min(2, len(left))  # over as many tasks as the sweep had
    assert "4 pictures of 4 made" in resumed.stdout

    # Every cell: one picture, in its own folder, with its own settings in the ledger.
    with sqlite3.connect(folder / "outputs" / "atelier-ledger.sqlite") as db:
        rows = db.execute("SELECT file, seed, cfg, steps, width, source FROM outputs ORDER BY file").fetchall()
    assert len(rows) == 4, rows
    for cell in plan["cells"]:
        wanted = dict(s.split("=", 1) for s in cell["settings"])
        (row,) = [r for r in rows if r[0].startswith(cell["id"] + "/")]
        assert (row[1], row[2], row[3], row[4], row[5]) == (
            wanted["KSampler.seed"],
            float(wanted["KSampler.cfg"]),
            2,
            64,
            "sweep",
        ), row

    # The contact sheet: seed across, CFG down, each picture where its two values meet.
    page.goto((folder / "comparison" / "contact-sheet.html").as_uri())
    heads = page.locator("table.grid thead th").all_inner_texts()
    assert heads == ["CFG ↓ · Seed →", "1", "2"], heads
    assert page.locator("table.grid tbody th").all_inner_texts() == ["4.0", "7.0"]
    for row, cfg in enumerate(("4", "7")):
        for col, seed in enumerate(("1", "2")):
            cell = page.locator("table.grid tbody tr").nth(row).locator("td").nth(col)
            image = cell.locator("img")
            assert image.count() == 1
            assert image.evaluate("i => i.complete && i.naturalWidth > 0")
            (made_here,) = [
                c
                for c in plan["cells"]
                if f"KSampler.seed={seed}" in c["settings"] and f"KSampler.cfg={cfg}" in c["settings"]
            ]
            assert cell.locator(".name").inner_text().startswith(made_here["id"] + "/")
    assert os.path.getsize(folder / "comparison" / "comparison.xlsx") > 0
