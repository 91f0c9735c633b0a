"""Figures for sweeps (issue notes, and the Runbook's Benchmarks page): one task against two.

Run (as root, like the slurm tier): COMFYUI_DIR=... COMFYUI_PYTHON=... .venv/bin/python benchmarks/sweep.py
Starts a one-node Slurm cluster of its own (atelier.hpc.localslurm, the slurm tier's), then
runs the same grid with --gpus 1 and
--gpus 2, in turn (A B A B ...), each in a new folder, on the CPU with random-weight
models, and prints each pair's wall time and the ratio, and what the tasks' own logs and
cell records say: ComfyUI's start-up, and seconds per picture. On a 2-core machine two
tasks share the cores, so 2 is the ceiling of the ratio, not what a GPU cluster gives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from atelier.comfy.server import find_comfyui
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.hpc.localslurm import local_cluster
from atelier.lessons.modules import load_module

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "workflows" / "txt2img-basics"
CFGS = "4,7"
SETTINGS = ["--set", "KSampler.steps=4", "--set", "Image size.width=128", "--set", "Image size.height=128"]


def grid(seeds: int) -> list[str]:
    return ["--vary", f"KSampler.seed=1..{seeds}", "--vary", f"KSampler.cfg={CFGS}", *SETTINGS]


def one(env: dict[str, str], gpus: int, work: Path, seeds: int) -> tuple[float, list[float], list[float]]:
    """(wall seconds, each task's ComfyUI start-up, each picture's seconds) for one sweep."""
    folder = work / f"gpus-{gpus}-{time.monotonic_ns()}"
    started = time.monotonic()
    command = [sys.executable, "-m", "atelier", "sweep", str(LESSON), *grid(seeds), "--gpus", str(gpus)]
    done = subprocess.run(
        [*command, "--out", str(folder)], env=env, capture_output=True, text=True, cwd=ROOT, timeout=1800
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the sweep with {gpus} task(s) failed:\n{done.stdout}\n{done.stderr}")
    ready = [
        float(m.group(1))
        for log in sorted((folder / "logs").glob("*.log"))
        for m in re.finditer(r"ready: ComfyUI in ([\d.]+) s", log.read_text())
    ]
    cells = [json.loads(p.read_text())["seconds"] for p in sorted((folder / "cells").glob("cell-*.json"))]
    return wall, ready, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2, help="A B pairs to run (default 2)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds in the grid, each with 2 CFGs (default 4)")
    args = parser.parse_args()
    checkout, python = find_comfyui(
        os.environ.get("COMFYUI_DIR"), os.environ.get("COMFYUI_PYTHON"), os.environ.get("ATELIER_PREFIX")
    )
    store = default_store("tiny")
    generate([n for n, _ in module_models(load_module(LESSON))], store, "tiny", checkout, python)
    with tempfile.TemporaryDirectory() as work, local_cluster(Path(work), fail=lambda text: sys.exit(text)) as slurm:
        env = {**slurm.env, "ATELIER_MODELS": str(store)}
        cells = args.seeds * len(CFGS.split(","))
        one(env, 2, Path(work), args.seeds)  # warm-up: the page cache holds the models for every counted run
        pairs = []
        for _ in range(args.pairs):
            pairs.append((one(env, 1, Path(work), args.seeds), one(env, 2, Path(work), args.seeds)))
    print(f"grid: {cells} pictures of txt2img-basics, 128 × 128, 4 steps, CPU test models; {args.pairs} pair(s)")
    for label, index in (("1 task ", 0), ("2 tasks", 1)):
        walls = [p[index][0] for p in pairs]
        ready = [r for p in pairs for r in p[index][1]]
        each = [c for p in pairs for c in p[index][2]]
        print(
            f"{label}: wall {statistics.median(walls):6.1f} s (runs {', '.join(f'{w:.1f}' for w in walls)}); "
            f"ComfyUI start-up {statistics.median(ready):.1f} s; a picture {statistics.median(each):.2f} s median"
        )
    ratios = [a[0] / b[0] for a, b in pairs]
    print(
        f"ratio 1 task / 2 tasks, pair by pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
