"""The `bench` command: how fast ComfyUI runs the lessons on this machine.

Apart from cli.py, which is near its size limit; the same rules apply: parse, call the
library (bench.py), print.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from atelier.check import bench
from atelier.check.bench_records import BenchResult
from atelier.cli.comfyui import ComfyChoice
from atelier.cli.lookup import module_folder, project
from atelier.cli.options import FILE, server_options
from atelier.comfy.server import tuning
from atelier.lessons.modules import load_module

# The flags study: ComfyUI's attention and precision options, each against the default.
STUDY = ("", "--use-split-cross-attention", "--use-quad-cross-attention", "--fast", "--bf16-unet", "--fp16-vae")


def _size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height or width)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give WIDTHxHEIGHT, for example 512x512") from None


def _seconds(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


def _save(result: BenchResult, path: Path) -> None:
    """Whole or not at all: a run stopped halfway leaves the last complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


@click.command("bench")
@click.argument("more", nargs=-1, metavar="[WORKLOAD]...")
@click.option(
    "--workload",
    "names",
    multiple=True,
    help="sd15-512, sdxl-1024, a lesson by name or folder, or 'lessons' for all (repeatable; default: "
    f"{' '.join(bench.DEFAULT)}).",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Pictures measured after the first; the figures are their medians.",
)
@click.option("--json", "json_path", type=FILE, help="Write the results here (saved after each workload).")
@click.option(
    "--flags",
    "flag_sets",
    multiple=True,
    help='ComfyUI options to measure, as one quoted string; repeat to compare several ("" is the default).',
)
@click.option(
    "--study",
    is_flag=True,
    help="Compare ComfyUI's attention and precision options on sd15-512 and "
    "sdxl-1024 (unless workloads are named): " + ", ".join(f or "default" for f in STUDY) + ".",
)
@click.option("--size", help="Override every workload's picture size, e.g. 256x256 (for a quick look).")
@click.option("--steps", type=click.IntRange(1, 1000), help="Override every workload's sampler steps.")
@click.option(
    "--test-models",
    "variant",
    type=click.Choice(["full", "tiny"]),
    default="full",
    show_default=True,
    help="Random-weight models for the missing ones; only full size gives true timings.",
)
@click.option("--no-random-weights", is_flag=True, help="Skip a workload whose models are not in --models.")
@server_options
def bench_command(
    more: tuple[str, ...],
    names: tuple[str, ...],
    repeat: int,
    json_path: Path | None,
    flag_sets: tuple[str, ...],
    study: bool,
    size: str | None,
    steps: int | None,
    variant: str,
    no_random_weights: bool,
    comfy: ComfyChoice,
) -> None:
    """Measure how fast ComfyUI runs the lessons here, on CUDA, Apple MPS or the CPU.

    Starts ComfyUI as a session does and, for each workload, times the first picture
    (which loads the model) and REPEAT more with new seeds: seconds per picture, sampler
    iterations per second and peak GPU and host memory. Missing models are replaced by
    full-size random-weight ones (same speed; the results say which kind ran). Add the
    JSON to docs/benchmarks/ to put it on the site's benchmarks page.
    """
    comfy.install()  # a missing ComfyUI is said before a folder is made for it
    found = project()
    modules = list(found.modules)
    flags = [tuning(shlex.split(f), "--flags", comfy.cpu) for f in (STUDY if study else flag_sets or ("",))]
    picked = [n for name in (*names, *more) for n in name.split(",") if n]
    by_folder = {n: load_module(module_folder(n)) for n in picked if "/" in n}  # a lesson by folder, as elsewhere
    picked = [by_folder[n].slug if n in by_folder else n for n in picked]
    modules += [m for m in by_folder.values() if m.slug not in {known.slug for known in modules}]
    default = list(bench.STANDARD) if study else list(bench.DEFAULT)  # a study compares the standard two
    chosen = bench.workloads(picked or default, modules)
    console = Console(stderr=True)
    work = Path(tempfile.mkdtemp(prefix="atelier-bench-"))  # kept when something failed: ComfyUI's logs are there
    setup = bench.Setup(
        comfy.server(work, models=None),  # each flag set's copy runs on a store of its own, linked from these
        work,
        found.nodes,
        {m.slug: m for m in modules},
        comfy.models,
        not no_random_weights,
        variant,
        _size(size),
        steps,
    )
    with console.status("Starting") as status:
        result = bench.run(
            setup, chosen, repeat, flags, status.update, lambda r: _save(r, json_path) if json_path else None
        )
    failed = any(run.failed is not None or any(w.status == "failed" for w in run.workloads) for run in result.runs)
    if failed:
        click.echo(f"Something failed; ComfyUI's logs are kept in {work}.")
    else:
        shutil.rmtree(work, ignore_errors=True)
    for record in result.runs:
        if record.failed is not None:
            click.echo(f"ComfyUI with {' '.join(record.flags) or 'default options'} did not run: {record.failed}")
            continue
        device = record.device.name if record.device else None
        version = record.versions.comfyui if record.versions else None
        title = (
            f"{device} · ComfyUI {version} · "
            f"{' '.join(record.flags) or 'default options'} · started in {_seconds(record.cold_start_s)} s"
        )
        table = Table(
            "workload",
            "weights",
            "first picture s",
            "s / picture",
            "it/s",
            "model load s",
            "GPU peak",
            "host peak",
            title=title,
        )
        notes = []
        for entry in record.workloads:
            weights = ", ".join(sorted({m.weights for m in entry.models})) or "-"
            if entry.figures is None:
                table.add_row(entry.name, weights, entry.status)
                notes.append(f"{entry.name} {entry.status}: {entry.reason or ''}")
                continue
            figures = entry.figures
            table.add_row(
                entry.name,
                weights,
                _seconds(figures.first_image_s),
                _seconds(figures.seconds_per_image),
                _seconds(figures.iterations_per_second),
                _seconds(figures.model_load_s),
                bench.gib(figures.peak_gpu_bytes),
                bench.gib(figures.peak_host_bytes),
            )
        Console().print(table)
        for note in notes:
            click.echo(note)
    if json_path:
        click.echo(f"Results in {json_path}.")
