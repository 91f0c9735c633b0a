"""The "Lesson status" page: what the last lesson checks found, on which hardware.

Made at site build from the reports `atelier check --publish` saves in docs/status/,
so instructors see which modules are known to work this semester, and where.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atelier.site.markdown import cell, table
from atelier.site.pages.records import record_sentences

MARKS = {"passed": "passed", "failed": "**failed**", "skipped": "not run"}


def load_reports(folder: Path) -> list[dict[str, Any]]:
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))]
    return sorted(reports, key=lambda r: r.get("date", ""), reverse=True)


def status_page(reports: list[dict[str, Any]], titles: dict[str, str]) -> str:
    lines = [
        "# Lesson status",
        "",
        "The lesson check runs every module without a browser: with random-weight test models (a *smoke* "
        "check, which shows the workflow still runs on this semester's ComfyUI) or with the real models on a "
        "GPU node (a *real* check, which also shows how long it takes). This page is made from the reports "
        "saved in `docs/status/`, and says only what they show.",
        "",
        record_sentences(reports),
        "",
    ]
    if not reports:
        return "\n".join(lines)  # the record sentence says none has run
    for report in reports:
        hw = report.get("hardware", {})
        machine = hw.get("gpu") or f"{hw.get('cpu')} ({hw.get('cores')} cores, CPU only)"
        results = report.get("results", [])
        passed = sum(r["status"] == "passed" for r in results)
        lines += [
            f"## {report.get('mode', '').capitalize()} check on {cell(machine)}",
            "",
            f"{report.get('date', '')[:10]} · ComfyUI {report.get('comfyui_version')} · "
            f"torch {hw.get('torch') or 'unknown'} · {hw.get('ram_gb')} GB memory · "
            f"{passed} of {len(results)} modules passed",
            "",
        ]
        rows = []
        for r in results:
            peak = " / ".join(
                x
                for x in [
                    f"{r['peak_host_mb']} MB host" if r.get("peak_host_mb") else "",
                    f"{r['peak_gpu_mb']} MB GPU" if r.get("peak_gpu_mb") else "",
                ]
                if x
            )
            comfy = f"{r['comfy_seconds']:.1f} s" if r.get("comfy_seconds") else ""
            rows.append(
                [
                    f"[{cell(titles.get(r['module'], r['module']))}]({r['module']}.md)",
                    MARKS[r["status"]],
                    f"{r['seconds']:.1f} s",
                    comfy,
                    peak,
                    cell(r.get("message", "")),
                ]
            )
        lines += [table(["Module", "Result", "Time", "ComfyUI's own time", "Peak memory", "Note"], rows), ""]
    return "\n".join(lines)
