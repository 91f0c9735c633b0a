"""The benchmarks page's tables and chart, made from the results `atelier bench --json` wrote.

Why generated: every figure on the page must be one that was measured, with the machine,
date, versions and kind of weights beside it; typing them in would let them drift from
the files. Published figures from elsewhere come from reference.yaml, each with its
source. Results live in docs/benchmarks/ (published with the site, so anyone can check
them); adding a file there adds its row.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from atelier.check import bench
from atelier.check.bench import gib
from atelier.check.bench_records import BenchResult, Run, WorkloadResult, bad_file
from atelier.hpc.profiles import Profile
from atelier.lessons.modules import Module
from atelier.project import Project
from atelier.site.markdown import table
from atelier.site.pages.teach import cost, site_modules

REFERENCE = "reference.yaml"  # beside the results
STANDARD = (("sd15-512", "SD 1.5, 512²"), ("sdxl-1024", "SDXL, 1024²"))
WANTED = ("V100", "A100", "L40S", "H100", "Apple M2")  # the cluster's GPU types and the Mac the seeds compare with
GAIN = 0.10  # and every repeat faster than every default one: repeats on a shared card vary a lot
LESSONS = "../lessons"
REFERENCE_KEYS = ("device", "workload", "value", "unit", "software", "source_title", "url", "publisher", "date")

DEVICES_MARKER = "<!-- bench: devices -->"
CHART_MARKER = "<!-- bench: chart -->"
LESSONS_MARKER = "<!-- bench: lessons -->"
FLAGS_MARKER = "<!-- bench: flags -->"
ADVICE_MARKER = "<!-- bench: advice -->"
REFERENCE_MARKER = "<!-- bench: reference -->"
SWEEP_MARKER = "<!-- bench: sweep -->"
SWEEP_CELLS, SWEEP_GPUS = 48, 4  # 4 CFG values × 4 seeds × 3 samplers, on one GPU and on four


def load_results(folder: Path) -> list[tuple[Path, BenchResult]]:
    """Every result file, oldest first (by the date inside); runs whose ComfyUI did not start are left out."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append((path, BenchResult.from_json(json.loads(path.read_text(encoding="utf-8")), path)))
        except json.JSONDecodeError as err:
            raise bad_file(path, f"line {err.lineno}: {err.msg}") from None
    return sorted(found, key=lambda item: item[1].date)


def load_reference(path: Path) -> list[dict[str, Any]]:
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as err:
        raise bad_file(path, str(err).splitlines()[0]) from None
    if not isinstance(entries, list):
        raise bad_file(path, "it must be a list of figures")
    for index, entry in enumerate(entries):
        missing = [key for key in REFERENCE_KEYS if not isinstance(entry, dict) or entry.get(key) in (None, "")]
        if missing:
            raise bad_file(path, f"entry {index + 1} has no {missing[0]}")
    return entries


def device_label(result: BenchResult, run: Run) -> str:
    """What the row's hardware is called: the GPU, or the processor for a CPU run."""
    device = run.device
    if device.type == "cpu":
        machine = result.machine
        return f"CPU only: {machine.cpu} ({machine.cores} cores)"
    if device.type == "mps":
        chip = str(result.machine.cpu or "Mac")
        return f"{chip if chip.startswith('Apple') else 'Apple ' + chip} (MPS)"
    return str(device.name)


def _weights(run: Run) -> str:
    kinds = {m.weights for w in run.workloads for m in w.models}
    names = {
        "real": "real",
        "random (full)": "random, full size",
        "random (tiny)": "random, reduced size (not true timings)",
    }
    return ", ".join(names.get(k, k) for k in sorted(kinds)) or "none"


def _day(result: BenchResult) -> str:
    return str(result.date)[:10]


def _versions(run: Run) -> str:
    return f"ComfyUI {run.versions.comfyui}, PyTorch {run.versions.torch}"


def _entry(run: Run, name: str) -> WorkloadResult | None:
    return next((w for w in run.workloads if w.name == name), None)


def _standard(entry: WorkloadResult | None) -> WorkloadResult | None:
    """The entry if it ran as its workload is defined: not resized for a quick look, not on reduced models."""
    if entry is None:
        return None
    defined = bench.STANDARD.get(entry.name)
    as_defined = defined is None or (entry.width, entry.height, entry.steps) == (
        defined.width,
        defined.height,
        defined.steps,
    )
    tiny = any(m.weights == "random (tiny)" for m in entry.models)
    return entry if as_defined and not tiny else None


def _measured(entry: WorkloadResult | None) -> bool:
    return entry is not None and entry.measured


def _has(run: Run, names: list[str]) -> bool:
    return any(_measured(_standard(_entry(run, n))) for n in names)


def _memory(entry: WorkloadResult | None) -> str:
    return gib(entry.figures.peak_gpu_bytes) if entry is not None and _measured(entry) else "-"


def _default(result: BenchResult) -> Run:
    """The run with ComfyUI's default options, which a study compares the others with."""
    return next(run for run in result.runs if not run.flags)


def _cell(entry: WorkloadResult | None) -> str:
    if entry is None:
        return "not run"
    if not entry.measured:
        return entry.status
    rate = entry.figures.iterations_per_second
    speed = f" ({rate:.1f} it/s)" if rate and rate >= 1 else f" ({rate:.2f} it/s)" if rate else ""
    return f"{entry.figures.seconds_per_image:.2f} s{speed}"


def default_rows(
    results: list[tuple[Path, BenchResult]], names: list[str] | None = None
) -> list[tuple[Path, BenchResult, Run]]:
    """Per device, the newest default-options run that measured any of `names` as defined (default: the
    standard two)."""
    wanted = names or [name for name, _ in STANDARD]
    newest: dict[str, tuple[Path, BenchResult, Run]] = {}
    for path, result in results:
        for run in result.runs:
            if not run.flags and _has(run, wanted):
                newest[device_label(result, run)] = (path, result, run)
    return list(newest.values())


def devices_table(results: list[tuple[Path, BenchResult]], profiles: list[Profile] | None = None) -> str:
    """Hardware, date, versions, weights and the standard workloads' speed, one row per device."""
    rows = default_rows(results)
    head = ["Hardware", "Measured", "Versions", "Weights", "ComfyUI start"] + [
        f"{title}: per picture" for _, title in STANDARD
    ]
    head.append("GPU memory (SDXL)")
    cells = [
        [
            device_label(result, run),
            f"{_day(result)} ([data](../benchmarks/{path.name}))",
            _versions(run),
            _weights(run),
            f"{run.cold_start_s:.0f} s",
            *(_cell(_standard(_entry(run, name))) for name, _ in STANDARD),
            _memory(_standard(_entry(run, "sdxl-1024"))),
        ]
        for path, result, run in rows
    ]
    measured = " ".join(device_label(r, run) for _, r, run in rows)
    waiting = [name for name in wanted(profiles) if name.lower() not in measured.lower()]
    text = table(head, cells)
    if waiting:
        text += (
            "\n\nNot measured yet: " + ", ".join(waiting) + ". Run `atelier bench --json FILE` on one "
            "(see [Add a row](#add-a-row)) and add the file to `docs/benchmarks/`."
        )
    return text


def wanted(profiles: list[Profile] | None = None) -> list[str]:
    """The GPU types the clusters offer by name, the H100 and the M2 Mac."""
    names = list(WANTED)
    for profile in profiles or []:
        for gpu in profile.gpus.values():
            kind = (gpu.gres or "").split(":")
            if len(kind) == 3 and kind[1].upper() not in names:
                names.append(kind[1].upper())
    return names


def chart(results: list[tuple[Path, BenchResult]]) -> str:
    """Seconds per picture on a log scale (a CPU takes hundreds of times a GPU's), as an inline SVG."""
    bars = [
        (device_label(result, run), title, entry.figures.seconds_per_image)
        for _, result, run in default_rows(results)
        for name, title in STANDARD
        if (entry := _standard(_entry(run, name))) and entry.measured
    ]
    if not bars:
        return "*No measured results yet: the chart appears with the first file in `docs/benchmarks/`.*"
    low = 10 ** math.floor(math.log10(min(s for *_, s in bars)))
    high = 10 ** math.ceil(math.log10(max(s for *_, s in bars)))
    left, width, bar, head = 110, 420, 18, 22
    decades = max(1, round(math.log10(high / low)))

    def x(seconds: float) -> float:
        return left + width * math.log10(seconds / low) / decades

    devices = list(dict.fromkeys(d for d, *_ in bars))
    height = 20 + len(devices) * head + len(bars) * (bar + 4) + 30
    total = left + width + 90
    parts = [
        f'<svg role="img" aria-labelledby="bench-chart-title bench-chart-desc" viewBox="0 0 {total} {height}" '
        f'width="100%" style="max-width:{total}px;font:12px sans-serif">',
        '<title id="bench-chart-title">Seconds per picture on each device, log scale</title>',
        '<desc id="bench-chart-desc">' + html.escape("; ".join(f"{d}, {t}: {s:.2f} s" for d, t, s in bars)) + "</desc>",
    ]
    for power in range(decades + 1):
        value = low * 10**power
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="10" y2="{height - 25}" stroke="currentColor" '
            'stroke-opacity="0.3"/>'
        )
        parts.append(
            f'<text x="{x(value):.1f}" y="{height - 8}" text-anchor="middle" fill="currentColor">{value:g} s</text>'
        )
    y = 10
    for device in devices:  # the device on a line of its own, its bars below
        parts.append(f'<text x="4" y="{y + 15}" fill="currentColor" font-weight="bold">{html.escape(device)}</text>')
        y += head
        for _, title, seconds in (b for b in bars if b[0] == device):
            colour = "var(--md-primary-fg-color)" if title == STANDARD[0][1] else "var(--md-accent-fg-color)"
            parts.append(
                f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" fill="currentColor">{html.escape(title)}</text>'
            )
            parts.append(
                f'<rect x="{left}" y="{y}" width="{max(x(seconds) - left, 1):.1f}" height="{bar}" fill="{colour}"/>'
            )
            parts.append(f'<text x="{x(seconds) + 4:.1f}" y="{y + 13}" fill="currentColor">{seconds:.2f} s</text>')
            y += bar + 4
    parts.append("</svg>")
    caption = "Seconds per picture (median), default options. Each step on the scale is ten times slower."
    return "<figure>\n" + "".join(parts) + f"\n<figcaption>{caption}</figcaption>\n</figure>"


def lessons_table(results: list[tuple[Path, BenchResult]], modules: list[Module]) -> str:
    """What a student's session books, and how long one run of each lesson takes where measured."""
    rows = [(device_label(result, run), run) for _, result, run in default_rows(results, [m.slug for m in modules])]
    head = ["Lesson", "GPU minutes booked per student"] + [f"One run on {device}" for device, _ in rows]
    lines = []
    for module in modules:
        cells = [f"[{module.title}]({LESSONS}/{module.slug}.md)", str(cost(module).gpu_minutes)]
        for _, run in rows:
            entry = _standard(_entry(run, module.slug))
            memory = entry.figures.peak_gpu_bytes if entry is not None and _measured(entry) else None
            cells.append(_cell(entry) + (f", {gib(memory)} of GPU memory" if memory else ""))
        lines.append(cells)
    return table(head, lines)


def _studies(results: list[tuple[Path, BenchResult]]) -> list[tuple[Path, BenchResult]]:
    """Result files that compare option sets against the default, newest last."""
    return [
        (p, r)
        for p, r in results
        if len(r.runs) > 1 and any(not run.flags and _has(run, [name for name, _ in STANDARD]) for run in r.runs)
    ]


def _ratios(default: Run, run: Run) -> dict[str, float | None]:
    """Per standard workload: how much faster than the default (0.10 = 10% less time), None if not measured."""
    found: dict[str, float | None] = {}
    for name, _ in STANDARD:
        base, this = _entry(default, name), _entry(run, name)
        found[name] = (
            1 - this.figures.seconds_per_image / base.figures.seconds_per_image
            if _measured(base) and _measured(this)
            else None
        )
    return found


def _change(ratio: float | None) -> str:
    if ratio is None:
        return "not measured"
    return f"{abs(ratio) * 100:.0f}% {'less' if ratio >= 0 else 'more'} time"


def _clearly_faster(default: Run, run: Run, ratios: dict[str, float | None]) -> bool:
    """Every repeat with the option beat every repeat without it, by GAIN in the medians, on each standard workload."""
    for name, _ in STANDARD:
        base, this = _entry(default, name), _entry(run, name)
        if ratios[name] is None or ratios[name] < GAIN or max(this.figures.runs_s) >= min(base.figures.runs_s):
            return False
    return True


def flags_tables(results: list[tuple[Path, BenchResult]]) -> str:
    """Each options study: every option set against the default, measured in the same run."""
    studies = _studies(results)
    if not studies:
        return "*No options study yet: run `atelier bench --study --json FILE` on a GPU node.*"
    parts = []
    for path, result in studies:
        default = _default(result)
        parts.append(
            f"**{device_label(result, default)}**, {_day(result)}, {_versions(default)}, "
            f"{_weights(default)} weights ([data](../benchmarks/{path.name})):\n"
        )
        head = ["ComfyUI options"] + [f"{title}: per picture" for _, title in STANDARD] + ["GPU memory (SDXL)"]
        lines = []
        for run in result.runs:
            ratios = _ratios(default, run)
            cells = [" ".join(f"`{f}`" for f in run.flags) or "default"]
            for name, _ in STANDARD:
                entry = _entry(run, name)
                measured = entry is not None and _measured(entry)
                runs_s = entry.figures.runs_s if measured else ()
                spread = f", {min(runs_s):.2f}–{max(runs_s):.2f} s" if runs_s else ""
                change = f", {_change(ratios[name])}" if run.flags and measured else ""
                cells.append(_cell(entry) + spread + change)
            lines.append(cells + [_memory(_entry(run, "sdxl-1024"))])
        parts.append(table(head, lines))
    return "\n\n".join(parts)


def advice(results: list[tuple[Path, BenchResult]]) -> str:
    """Per GPU studied: the option set to put in the profile, or the defaults, with the measured gain."""
    studies = _studies(results)
    if not studies:
        return "*No recommendation yet: no GPU has had an options study.*"
    newest = {device_label(result, _default(result)): result for _, result in studies}  # oldest first: the last wins
    lines = []
    for device, result in newest.items():
        default = _default(result)
        good = []
        for run in result.runs:
            ratios = _ratios(default, run)
            if run.flags and _clearly_faster(default, run, ratios):
                good.append((sum(ratios.values()) / len(ratios), run, ratios))  # type: ignore[arg-type]
        if not good:
            lines.append(
                f"- **{device}**: keep the defaults. No option was clearly faster on both standard "
                f"workloads ({_day(result)})."
            )
            continue
        _, best, ratios = max(good, key=lambda item: item[0])
        flags = " ".join(best.flags)
        gains = ", ".join(f"{title} {_change(ratios[name])}" for name, title in STANDARD)
        lines.append(
            f"- **{device}**: `comfyui_args: [{', '.join(repr(f) for f in best.flags)}]` "
            f"(that is, `{flags}`): {gains}, measured {_day(result)}."
        )
    return "\n".join(lines)


def reference_table(entries: list[dict[str, Any]]) -> str:
    """Published figures, each with its source; settings differ from ours, so they are context, not rows."""
    head = ["Device", "Workload", "Figure", "Settings", "Source"]
    titles = dict(STANDARD)
    rows = []
    for entry in entries:
        steps = [f"{entry['steps']} steps"] if entry.get("steps") else []
        settings = ", ".join(steps + [str(entry[k]) for k in ("precision", "software") if entry.get(k)])
        source = f"[{entry['source_title']}]({entry['url']}), {entry['publisher']}, {entry['date']}"
        rows.append(
            [
                str(entry["device"]),
                titles.get(entry["workload"], entry["workload"]),
                f"{entry['value']} {entry['unit']}",
                settings,
                source,
            ]
        )
    return table(head, rows)


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def sweep_rows(
    results: list[tuple[Path, BenchResult]], entries: list[dict[str, Any]], profiles: list[Profile] | None = None
) -> list[list[str]]:
    """What a 48-picture SD 1.5 grid costs on each GPU: from measured figures where there are some,
    else a published speed with a measured GPU's start-up, each row saying which.

    A task pays ComfyUI's start-up and the model load once, then makes its share of the grid:
    on one GPU all 48, on four GPUs 12 each, at the same time.
    """
    rows: list[list[str]] = []
    measured: list[tuple[str, float, float]] = []  # (device, start-up and load, a picture)
    for _, result, run in default_rows(results, ["sd15-512"]):
        entry = _standard(_entry(run, "sd15-512"))
        if entry is None or not entry.measured or run.device.type == "cpu":
            continue
        start = run.cold_start_s + (entry.figures.model_load_s or 0)
        measured.append((device_label(result, run), start, entry.figures.seconds_per_image))

    def published(device: str) -> dict[str, Any] | None:
        return next(
            (
                e
                for e in entries
                if e["workload"] == "sd15-512" and e["unit"] == "it/s" and str(e["device"]).lower() in device.lower()
            ),
            None,
        )

    # A GPU not measured here: a measured one's time, scaled by the two GPUs' published speeds
    # (published figures come from other software than ComfyUI, so only their ratio is used).
    anchor = next(((d, start, each, published(d)) for d, start, each in measured if published(d)), None)
    estimated: list[tuple[str, float, float, str]] = []
    if anchor:
        device, start, each, theirs = anchor
        done = " ".join(d for d, _, _ in measured).lower()
        for name in wanted(profiles):
            entry = next(
                (
                    e
                    for e in entries
                    if e["workload"] == "sd15-512" and e["unit"] == "it/s" and name.lower() in str(e["device"]).lower()
                ),
                None,
            )
            if name.lower() in done or entry is None:
                continue
            estimated.append(
                (
                    str(entry["device"]),
                    start,
                    each * float(theirs["value"]) / float(entry["value"]),
                    f"estimated: {device}'s time × its published {theirs['value']} it/s ÷ this GPU's "
                    f"{entry['value']} it/s; start-up as on {device}",
                )
            )
    every = [(d, start, each, "measured") for d, start, each in measured] + estimated
    for device, start, each, source in every:
        share = math.ceil(SWEEP_CELLS / SWEEP_GPUS)
        one, four = start + SWEEP_CELLS * each, start + share * each
        rows.append(
            [
                device,
                f"{each:.2f} s",
                f"{start:.0f} s",
                _hours(one),
                _hours(four),
                _hours(SWEEP_GPUS * four),
                f"{one / four:.1f}×",
                source,
            ]
        )
    return rows


def sweep_table(
    results: list[tuple[Path, BenchResult]], entries: list[dict[str, Any]], profiles: list[Profile] | None = None
) -> str:
    rows = sweep_rows(results, entries, profiles)
    if not rows:
        return "*No GPU has been measured yet: the table appears with the first GPU file in `docs/benchmarks/`.*"
    intro = (
        f"{SWEEP_CELLS} pictures of {dict(STANDARD)['sd15-512']} on one GPU, and split over {SWEEP_GPUS} GPUs "
        f"({math.ceil(SWEEP_CELLS / SWEEP_GPUS)} pictures each):\n\n"
    )
    title = dict(STANDARD)["sd15-512"]
    head = [
        "GPU",
        f"A picture ({title}, {bench.STANDARD['sd15-512'].steps} steps)",
        "Start-up and model load, per task",
        f"{SWEEP_CELLS} pictures on 1 GPU",
        f"{SWEEP_CELLS} pictures on {SWEEP_GPUS} GPUs",
        f"GPU time booked, {SWEEP_GPUS} GPUs",
        "Sooner by",
        "From",
    ]
    return intro + table(head, rows)


MARKERS: dict[str, Callable[[Project], str]] = {
    SWEEP_MARKER: lambda p: sweep_table(load_results(p.results), load_reference(p.results / REFERENCE), p.profiles),
    DEVICES_MARKER: lambda p: devices_table(load_results(p.results), p.profiles),
    CHART_MARKER: lambda p: chart(load_results(p.results)),
    LESSONS_MARKER: lambda p: lessons_table(load_results(p.results), site_modules(p)),
    FLAGS_MARKER: lambda p: flags_tables(load_results(p.results)),
    ADVICE_MARKER: lambda p: advice(load_results(p.results)),
    REFERENCE_MARKER: lambda p: reference_table(load_reference(p.results / REFERENCE)),
}
