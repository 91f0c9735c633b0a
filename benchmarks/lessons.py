"""Figures for the lesson runner (issue notes): start-up, smoke check, harness overhead.

Run: COMFYUI_DIR=... COMFYUI_PYTHON=... .venv/bin/python benchmarks/lessons.py [--module NAME ...]
Measures, in one run on this machine:
- seconds from starting ComfyUI the way `atelier serve` does until it answers;
- the smoke check of every module (or those named) with CPU test models, end to end;
- harness overhead: the check's time per module against ComfyUI's own execution time
  (the "Prompt executed in" figure, read from its history).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from atelier.check.lessons import Target, check_modules
from atelier.comfy.server import ComfyServer, find_comfyui
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.project import Project

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", default=[], help="only this module (repeatable; default all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a module may take (default 600)")
    args = parser.parse_args()
    checkout, python = find_comfyui(
        os.environ.get("COMFYUI_DIR"), os.environ.get("COMFYUI_PYTHON"), os.environ.get("ATELIER_PREFIX")
    )
    project = Project(ROOT)
    modules = [m for m in project.modules if not args.module or m.slug in args.module]
    if unknown := set(args.module) - {m.slug for m in modules}:
        parser.error(f"no module {', '.join(sorted(unknown))} in {project.workflows}")
    store = default_store("tiny")
    skipped: dict[str, str] = {}
    for module in modules:
        missing = generate([n for n, _ in module_models(module)], store, "tiny", checkout, python)
        if missing:
            skipped[module.slug] = "no CPU test model"
    with tempfile.TemporaryDirectory() as work:
        server = ComfyServer(checkout, python, Path(work), cpu=True, models=store)
        started = time.monotonic()
        server.start()
        ready = time.monotonic() - started
        try:
            started = time.monotonic()
            out = Path(work) / "out"
            report = check_modules(modules, Target(server=server), project.nodes, out, True, args.timeout, skipped)
            total = time.monotonic() - started
        finally:
            server.stop()
    ran = [r for r in report.results if r.status != "skipped"]
    harness = sum(r.seconds for r in ran)
    comfy = sum(r.comfy_seconds or 0 for r in ran)
    print(f"machine: {report.hardware['cpu']}, {report.hardware['cores']} cores")
    print(f"ComfyUI ready after start: {ready:.1f} s")
    print(
        f"smoke check: {len(ran)} modules run, {len(report.results) - len(ran)} without CPU test models, "
        f"{sum(r.status == 'passed' for r in ran)} passed, {total:.1f} s in all"
    )
    overhead = f"{100 * (harness / comfy - 1):.1f}%" if comfy else "unknown (ComfyUI ran nothing)"
    print(f"harness {harness:.1f} s vs ComfyUI's own {comfy:.1f} s: overhead {overhead}")
    for r in report.results:
        print(
            f"  {r.module:<28} {r.status:<8} {r.seconds:6.1f} s "
            f"(ComfyUI {r.comfy_seconds or 0:5.1f} s)  {r.message[:60]}"
        )


if __name__ == "__main__":
    main()
