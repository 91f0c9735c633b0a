"""What the site may say about checks: sentences made from the recorded reports, nothing else.

A page that says lessons were "checked" or "measured" takes its sentence from here, so
the claim names the date, the machine, CPU or GPU and test or real models of a report
in docs/status/, and says plainly what has not run. The site checks (site/checks.py)
refuse a claim of that kind typed anywhere else on a reader's page.
"""

from __future__ import annotations

from typing import Any

RECORD_MARKER = "<!-- check record -->"
RECORD_CLASS = "atelier-record"  # the generated sentences' element: the claim check skips its text


def machine(report: dict[str, Any]) -> str:
    """The hardware of a report in a reader's words: "a GPU (NVIDIA H100)" or "a CPU with 2 cores"."""
    hw = report.get("hardware", {})
    if hw.get("gpu"):
        return f"a GPU ({hw['gpu']})"
    return f"a CPU with {hw.get('cores')} cores and no GPU"


def models(report: dict[str, Any]) -> str:
    return (
        "the real models of the shared store"
        if report.get("mode") == "real"
        else "random-weight test models, which make noise instead of pictures"
    )


def summary(report: dict[str, Any]) -> str:
    """One report as a sentence: when, where, with what, and how many modules passed."""
    results = report.get("results", [])
    passed = sum(r.get("status") == "passed" for r in results)
    return (
        f"On {report.get('date', '')[:10]}, {passed} of {len(results)} lesson modules ran to the end on "
        f"{machine(report)}, with {models(report)} ({report.get('mode')} check, "
        f"ComfyUI {report.get('comfyui_version')})."
    )


def not_yet(reports: list[dict[str, Any]]) -> list[str]:
    """What the recorded reports do not show, so no reader takes more from them."""
    missing = []
    if not any(r.get("mode") == "real" for r in reports):
        missing.append(
            "No check with the real models has been recorded yet, so no page can say how a "
            "lesson's pictures look or how long they take on the cluster."
        )
    if not any(r.get("hardware", {}).get("gpu") for r in reports):
        missing.append("No check on a GPU has been recorded yet.")
    return missing


def record_sentences(reports: list[dict[str, Any]]) -> str:
    """The claim a page may make, as one paragraph marked as generated from the records."""
    if not reports:
        text = "No lesson check has been recorded for this version of the site yet."
    else:
        latest = [
            next(r for r in reports if r.get("mode") == mode)  # reports come newest first
            for mode in ("real", "smoke")
            if any(r.get("mode") == mode for r in reports)
        ]
        text = " ".join([*map(summary, latest), *not_yet(reports)])
    return f'<span class="{RECORD_CLASS}">{text}</span>'
