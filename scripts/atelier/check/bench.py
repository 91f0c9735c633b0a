"""How fast ComfyUI runs the lessons on this machine: the figures behind the benchmarks page.

`atelier bench` starts ComfyUI the way a session does (plus a memory sampler loaded into
it), runs standard workloads and the lessons' own workflows, and records for each: the
first picture (which loads the model, and on a run's first workload also starts CUDA),
then `repeat` more with new seeds (so nothing is cached), their median seconds and sampler
iterations per second, and peak GPU memory and the ComfyUI process's largest resident
memory (which still holds what earlier workloads left). One record per set of ComfyUI options, all in one
file, so flags are compared as ratios measured in one run on one machine. Missing models are replaced by full-size
random-weight files with the real architectures (speed does not depend on weight values);
each workload says which kind it ran on. What a result holds, and its file, is in bench_records.py.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import shutil
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from atelier import __version__
from atelier.check.bench_records import BenchResult, Device, Figures, Machine, ModelFile, Run, Versions, WorkloadResult
from atelier.check.hardware import device_name, processor
from atelier.comfy.client import ComfyClient
from atelier.comfy.headless import Job, Progress, execute, load_job
from atelier.comfy.server import ComfyServer
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import Module
from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError

SEED_INPUTS = ("seed", "noise_seed")
# The memory sampler's routes (comfy/extensions/atelier_bench, which holds copies: tests/unit/test_copies.py).
PEAKS, RESET = "/atelier/bench/peaks", "/atelier/bench/reset"


@dataclass(frozen=True)
class Workload:
    """A lesson's workflow, optionally at a fixed size and step count so GPUs compare like for like."""

    name: str
    lesson: str
    about: str
    width: int | None = None
    height: int | None = None
    steps: int | None = None


STANDARD = {
    "sd15-512": Workload("sd15-512", "txt2img-basics", "Stable Diffusion 1.5, 512 × 512, 20 steps", 512, 512, 20),
    "sdxl-1024": Workload("sdxl-1024", "sdxl-basics", "SDXL base 1.0, 1024 × 1024, 20 steps", 1024, 1024, 20),
}
DEFAULT = ("sd15-512", "sdxl-1024", "text-to-video", "text-to-audio", "image-to-3d")


def workloads(names: list[str], modules: list[Module]) -> list[Workload]:
    """Standard names and lesson slugs ('lessons' means every lesson), in the order given."""
    by_slug = {m.slug: m for m in modules}
    picked: list[Workload] = []
    for name in names:
        if name == "lessons":
            picked += [Workload(m.slug, m.slug, f"the {m.slug} lesson as it ships") for m in modules]
        elif name in STANDARD:
            picked.append(STANDARD[name])
        elif name in by_slug:
            picked.append(Workload(name, name, f"the {name} lesson as it ships"))
        else:
            raise AtelierError("bench-workload-unknown", name=name, known=", ".join([*STANDARD, "lessons", *by_slug]))
    return list({w.name: w for w in picked}.values())


def dimensions(
    workload: Workload, size: tuple[int, int] | None = None, steps: int | None = None
) -> tuple[int | None, int | None, int | None]:
    """(width, height, steps) a workload runs at: the overrides, else its own (None: as the lesson has it)."""
    width, height = size or (workload.width, workload.height)
    return width, height, steps or workload.steps


def gib(value: Any) -> str:
    """Bytes for people, as the bench's table and the page show them."""
    return f"{value / 2**30:.1f} GiB" if isinstance(value, (int, float)) else "-"


def prepared(
    job: Job, workload: Workload, seed: int, size: tuple[int, int] | None = None, steps: int | None = None
) -> Job:
    """The job with the workload's size and steps, and `seed` in every sampler (so nothing is cached)."""
    width, height, steps = dimensions(workload, size, steps)
    ready = copy.deepcopy(job)
    for node in ready.prompt.values():
        inputs = node.get("inputs", {})
        if width and height and isinstance(inputs.get("width"), int) and isinstance(inputs.get("height"), int):
            inputs["width"], inputs["height"] = width, height
        if steps and isinstance(inputs.get("steps"), int):
            inputs["steps"] = steps
        for key in SEED_INPUTS:
            if isinstance(inputs.get(key), int):
                inputs[key] = seed
    return ready


def fresh_inputs(job: Job, folder: Path, index: int) -> Job:
    """The job reading copies of its input files under new names.

    ComfyUI reuses a node's result while its inputs are unchanged, and a workflow without a
    seed (an upscale) would otherwise run once and then take no time at all.
    """
    ready = copy.deepcopy(job)
    renamed: dict[str, str] = {}
    folder.mkdir(parents=True, exist_ok=True)
    for path in job.inputs:
        copied = folder / f"{path.stem}-bench{index}{path.suffix}"
        shutil.copyfile(path, copied)
        renamed[path.name] = copied.name
    ready.inputs = [folder / renamed[path.name] for path in job.inputs]
    for node in ready.prompt.values():
        inputs = node.get("inputs", {})
        for key, value in inputs.items():
            if isinstance(value, str) and value in renamed:
                inputs[key] = renamed[value]
    return ready


def weights_kind(path: Path) -> str:
    """'random' for a file `atelier testmodels` made (it says so in its header), else 'real'."""
    if path.suffix != ".safetensors":
        return "real"
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(min(length, 100_000_000)))
    return "random" if "atelier_testmodel" in header.get("__metadata__", {}) else "real"


def iterations_per_second(ticks: list[tuple[float, str, int]]) -> float | None:
    """Sampler speed from (time, node, step) progress ticks: the longest run of steps, first step excluded.

    The first tick comes after step 1, so the interval to the last tick holds only steady steps.
    """
    runs: dict[str, list[tuple[float, int]]] = {}
    for at, node, step in ticks:
        runs.setdefault(node, []).append((at, step))
    best = max(runs.values(), key=len, default=[])
    if len(best) < 3 or best[-1][0] <= best[0][0]:
        return None
    return (best[-1][1] - best[0][1]) / (best[-1][0] - best[0][0])


def summary(first: float, seconds: list[float], rates: list[float | None]) -> Figures:
    """Medians of the repeats; the model load is what the first picture took beyond them (memory peaks left empty)."""
    steady = statistics.median(seconds) if seconds else None
    known = [r for r in rates if r]
    return Figures(
        first_image_s=round(first, 3),
        seconds_per_image=round(steady, 3) if steady is not None else None,
        model_load_s=round(max(first - steady, 0.0), 3) if steady is not None else None,
        iterations_per_second=round(statistics.median(known), 3) if known else None,
        repeat=len(seconds),
        runs_s=tuple(round(s, 3) for s in seconds),
    )


@dataclass
class Setup:
    """Where things are, shared by every flag set of one run."""

    comfyui: ComfyServer  # as the command line makes every ComfyUI; each flag set runs a copy of its own
    workdir: Path
    node_list: NodeList
    modules: dict[str, Module]
    models: Path | None = None  # a store with real weights; missing files become random ones
    random_weights: bool = True
    variant: str = "full"
    size: tuple[int, int] | None = None  # overrides every workload's (tests, quick looks)
    steps: int | None = None
    timeout: float = 3600.0


def model_view(setup: Setup, workload: Workload) -> tuple[tuple[ModelFile, ...], str | None]:
    """Link each model the lesson needs into the bench's own store; (models, why it cannot run)."""
    wanted = module_models(setup.modules[workload.lesson])
    view = setup.workdir / "models"
    missing = [name for name, folder in wanted if not (setup.models and (setup.models / folder / name).is_file())]
    cache = default_store(setup.variant)
    if missing and setup.random_weights:
        skipped = generate(missing, cache, setup.variant, setup.comfyui.checkout, setup.comfyui.python)
        if skipped:
            name, reason = sorted(skipped.items())[0]
            return (), f"{name} is not in the model store; {reason}"
    elif missing:
        return (), f"{missing[0]} is not in {setup.models or 'a model store (name one with --models)'}"
    models = []
    for name, folder in wanted:
        source = setup.models / folder / name if name not in missing and setup.models else cache / folder / name
        link = view / folder / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(source.resolve())
        kind = weights_kind(source)
        models.append(ModelFile(name, kind if kind == "real" else f"random ({setup.variant})"))
    return tuple(models), None


def _peaks(client: ComfyClient) -> dict[str, Any]:
    return client.get_json(PEAKS)


def unload(client: ComfyClient, timeout: float = 60.0) -> None:
    """Empty ComfyUI's models and cache, so the next picture loads its model as a first one does.

    ComfyUI carries out /free at its worker's next idle moment, so wait until the worker has taken it.
    """
    client.post_json("/free", {"unload_models": True, "free_memory": True})
    deadline = time.monotonic() + timeout
    while _peaks(client).get("free_pending") and time.monotonic() < deadline:
        time.sleep(0.1)


def measure(
    client: ComfyClient, setup: Setup, workload: Workload, repeat: int, on_progress: Callable[[str], None]
) -> Figures:
    """The first picture, then `repeat` more with new seeds; medians and memory peaks."""
    job = load_job(setup.modules[workload.lesson].folder, setup.node_list)
    out = setup.workdir / "outputs" / workload.name
    seconds: list[float] = []
    rates: list[float | None] = []
    first = 0.0
    unload(client)
    client.post_json(RESET, {})
    for index in range(repeat + 1):
        ticks: list[tuple[float, str, int]] = []

        def tick(progress: Progress, ticks: list[tuple[float, str, int]] = ticks, index: int = index) -> None:
            if progress.steps:
                ticks.append((time.monotonic(), progress.title, progress.step))
            what = "first picture (loads the model)" if index == 0 else f"picture {index} of {repeat}"
            step = f" {progress.step}/{progress.steps}" if progress.steps else ""
            on_progress(f"{workload.name}: {what}, {progress.title}{step}")

        ready = fresh_inputs(prepared(job, workload, 1000 + index, setup.size, setup.steps), out / "inputs", index)
        ran = execute(client, ready, out, setup.node_list, setup.timeout, tick)
        took = ran.comfy_seconds or ran.seconds
        if index == 0:
            first = took
        else:
            seconds.append(took)
            rates.append(iterations_per_second(ticks))
    peaks = _peaks(client)
    return replace(
        summary(first, seconds, rates), peak_gpu_bytes=peaks.get("gpu_bytes"), peak_host_bytes=peaks.get("host_bytes")
    )


def machine() -> Machine:
    """The host, for the row's hardware column (the GPU comes from ComfyUI itself)."""
    return Machine(processor(), os.cpu_count(), f"{platform.system()} {platform.release()}")


def run_flags(
    setup: Setup,
    chosen: list[Workload],
    ready: dict[str, tuple[tuple[ModelFile, ...], str | None]],
    repeat: int,
    flags: list[str],
    on_progress: Callable[[str], None],
    on_change: Callable[[Run], None],
) -> Run:
    """One ComfyUI with these flags: its cold start, its device, every workload measured on it.

    `ready` is model_view's answer per workload, made once for all flag sets. `on_change` gets
    the run so far after each workload. Where ComfyUI fails (an option this ComfyUI lacks the
    library for), the run says so and keeps what it had got to.
    """
    record = Run(tuple(flags))
    try:
        name = "-".join(f.strip("-") for f in flags) or "default"
        server = replace(
            setup.comfyui,
            workdir=setup.workdir / f"comfyui-{name}",
            models=setup.workdir / "models",
            bench=True,
            extra_args=flags,
        )
        on_progress(f"starting ComfyUI {' '.join(flags)}".rstrip())
        started = time.monotonic()
        server.start(timeout=600)
        try:
            record = replace(record, cold_start_s=round(time.monotonic() - started, 3))
            client = server.client(timeout=120)
            stats = client.get_json("/system_stats")
            device = (stats.get("devices") or [{}])[0]
            peaks = _peaks(client)
            record = replace(
                record,
                device=Device(
                    device.get("type", "cpu"),
                    device_name(str(device.get("name", "cpu"))),
                    peaks.get("gpu_total_bytes") or device.get("vram_total"),
                ),
            )
            system = stats.get("system", {})
            record = replace(
                record,
                versions=Versions(
                    system.get("comfyui_version"),
                    system.get("pytorch_version"),
                    str(system.get("python_version", "")).split()[0],
                    __version__,
                ),
            )
            for workload in chosen:
                models, why_not = ready[workload.name]
                ran = (
                    workload.name,
                    workload.lesson,
                    workload.about,
                    *dimensions(workload, setup.size, setup.steps),
                    models,
                )
                if why_not:
                    entry = WorkloadResult(*ran, status="skipped", reason=why_not)
                else:
                    try:
                        entry = WorkloadResult(
                            *ran, status="measured", figures=measure(client, setup, workload, repeat, on_progress)
                        )
                    except AtelierError as err:  # out of memory, a failed node: recorded, the others still run
                        entry = WorkloadResult(*ran, status="failed", reason=str(err))
                record = replace(record, workloads=(*record.workloads, entry))
                on_change(record)
        finally:
            server.stop()
    except AtelierError as err:
        record = replace(record, failed=str(err))
    return record


def run(
    setup: Setup,
    chosen: list[Workload],
    repeat: int,
    flag_sets: list[list[str]],
    on_progress: Callable[[str], None],
    on_change: Callable[[BenchResult], None],
) -> BenchResult:
    """Every flag set in turn; `on_change` gets the whole result after each workload, to save as it goes."""
    result = BenchResult(datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), machine(), repeat)
    ready: dict[str, tuple[tuple[ModelFile, ...], str | None]] = {}
    for workload in chosen:  # models first, so making them is not counted as start-up or load time
        on_progress(f"{workload.name}: models")
        ready[workload.name] = model_view(setup, workload)
    for flags in flag_sets:
        done = result.runs
        ran = run_flags(
            setup,
            chosen,
            ready,
            repeat,
            flags,
            on_progress,
            lambda so_far, result=result, done=done: on_change(replace(result, runs=(*done, so_far))),
        )
        result = replace(result, runs=(*done, ran))
        if ran.failed is not None:  # e.g. an option this ComfyUI lacks the library for: the other sets still run
            on_change(result)
    return result
