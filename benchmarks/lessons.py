"""Figures for the lesson runner (issue notes): start-up, smoke check, harness overhead.

Run: COMFYUI_DIR=... COMFYUI_PYTHON=... .venv/bin/python benchmarks/lessons.py
Measures, in one run on this machine:
- seconds from starting ComfyUI the way `atelier serve` does until it answers;
- the smoke check of every module with CPU test models, end to end;
- harness overhead: the check's time per module against ComfyUI's own execution time
  (the "Prompt executed in" figure, read from its history).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from atelier.check.lessons import Session, check_modules
from atelier.comfy.server import ComfyServer, find_comfyui
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import all_modules
from atelier.lessons.nodes import load_catalogue

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    checkout, python = find_comfyui()
    catalogue = load_catalogue(ROOT / "workflows" / "catalogue" / "object_info.json")
    modules = all_modules(ROOT / "workflows")
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
            report = check_modules(modules, Session(server=server), catalogue, Path(work) / "out", True, 600, skipped)
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
    print(f"harness {harness:.1f} s vs ComfyUI's own {comfy:.1f} s: overhead {100 * (harness / comfy - 1):.1f}%")
    for r in report.results:
        print(
            f"  {r.module:<28} {r.status:<8} {r.seconds:6.1f} s "
            f"(ComfyUI {r.comfy_seconds or 0:5.1f} s)  {r.message[:60]}"
        )


if __name__ == "__main__":
    main()
