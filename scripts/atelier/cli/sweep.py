"""`atelier sweep`: a grid of knob values over several GPUs, and `sweep-task`, what each GPU runs.

The library (hpc/sweep.py) plans, submits and reads the folder; this prints. Following a
sweep is only reading: Slurm's state and each task's own log, every two seconds.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from atelier.cli.comfyui import ComfyChoice
from atelier.cli.joblog import job_deadline, time_stamp
from atelier.cli.lookup import lesson_path, project
from atelier.cli.options import (
    CLUSTER,
    COMFYUI_OPTION,
    EXISTING_FOLDER,
    FOLDER,
    GPU,
    HOURS,
    SET,
    SHARE_GB,
    server_options,
)
from atelier.comfy import headless
from atelier.hpc import sweep
from atelier.hpc.profiles import load_profile
from atelier.keep import compare, ledger
from atelier.layout import SweepFolder
from atelier.messages import AtelierError, plural

POLL = 5.0  # seconds between looks at Slurm and the logs: often enough for a person, light on slurmctld
PATIENCE = 120.0  # seconds of squeue not answering before the follower gives up


@click.command("sweep")
@click.argument("lesson", required=False)
@click.option(
    "--vary",
    "varied",
    multiple=True,
    metavar="NODE.INPUT=VALUES",
    help='A knob and its values: a list "KSampler.cfg=2,4,7", a range "KSampler.seed=1..8" or '
    '"KSampler.cfg=2..8:2", or the knob alone for the lesson\'s own Try values (repeatable).',
)
@SET
@click.option(
    "--gpus",
    type=click.IntRange(min=1),
    help="How many GPUs (tasks of one Slurm job array) share the grid (default: 1, or as many as the "
    "sweep's last round had).",
)
@CLUSTER
@GPU
@HOURS
@click.option(
    "--out",
    type=FOLDER,
    help="The sweep's folder (default: ~/atelier-sweeps/<lesson>-<date-time>); give it again to "
    "follow, resume or cancel that sweep.",
)
@click.option("--dry-run", is_flag=True, help="Print the grid and the batch script; submit nothing.")
@click.option("--no-wait", is_flag=True, help="Submit and return; follow it later with --out.")
@click.option("--cancel", is_flag=True, help="Cancel the sweep in --out; what is made is kept.")
@click.option("--smoke", is_flag=True, help="Hold steps and sizes down (except the varied knobs), for a CPU.")
def sweep_command(
    lesson: str | None,
    varied: tuple[str, ...],
    settings: tuple[str, ...],
    gpus: int | None,
    cluster: str,
    gpu: str | None,
    hours: float | None,
    out: Path | None,
    dry_run: bool,
    no_wait: bool,
    cancel: bool,
    smoke: bool,
) -> None:
    """Make every combination of some knobs' values, spread over GPUs.

    LESSON is a module, by name or folder, or a workflow file; --set knobs are the same in
    every picture. The grid is split over --gpus tasks of
    one Slurm job array; each task starts ComfyUI once and makes its share. Outputs land
    in the sweep's folder, one folder per picture. When the last task ends, this command
    records their settings in a ledger and makes a contact sheet and a workbook with the
    first two varied knobs across and down.

    Run it again with the same --out to follow it, or to make only what is left after a
    task was cancelled or ran out of time. Exits 0 when every picture was made.
    """
    if cancel:
        _cancel(out)
        return
    found = project()
    folder, plan = _plan(found, lesson_path(lesson) if lesson else None, varied, settings, cluster, gpu, out, smoke)
    if any(c.isspace() for c in str(folder.path)):
        raise AtelierError("sweep-folder-space", folder=folder.path)
    profile = load_profile(cluster if lesson else plan.cluster)
    choice = profile.gpu(gpu or (None if lesson else plan.gpu))
    last = plan.rounds[-1] if plan.rounds else {}
    gpus = gpus or len(last.get("tasks", [])) or 1  # a re-run keeps the sweep's own size unless told otherwise
    limit = profile.hours(hours if hours is not None else last.get("hours"))
    if dry_run:
        todo = sweep.left(plan, folder) if folder.plan.is_file() else plan.cells
        assignment = sweep.split(todo, gpus)
        _say_grid(plan, todo, assignment)
        click.echo(
            f"The batch script ({len(assignment)} task(s) on {profile.title}, {choice.title}, {limit:g} h each):"
        )
        click.echo(
            sweep.job_script(
                plan, folder, profile, choice, limit, len(plan.rounds) + 1, len(assignment), _comfyui_here()
            ),
            nl=False,
        )
        return
    with sweep.submitting(folder):  # from "is it running?" to the round saved: one command at a time
        plan = sweep.open_plan(folder, plan if lesson else None)
        active = plan.rounds and sweep.running(sweep.task_states(plan, folder))
        todo = [] if active else sweep.left(plan, folder)
        if todo:
            assignment = sweep.split(todo, gpus)
            script = sweep.job_script(
                plan, folder, profile, choice, limit, len(plan.rounds) + 1, len(assignment), _comfyui_here()
            )
            job = sweep.submit(plan, folder, script, assignment, limit)
            click.echo(
                f"Submitted job {job} to {profile.title} ({choice.title}): {plural(len(todo), 'picture')} "
                f"over {plural(len(assignment), 'task')}. Folder: {folder.path}"
            )
        elif active:
            click.echo(f"The sweep's job {plan.rounds[-1]['job']} is still running: following it.")
    if no_wait:
        click.echo(f"Follow it, and make its contact sheet when it ends, with:  atelier sweep --out {folder.path}")
        click.echo(f"Cancel it with:  atelier sweep --cancel --out {folder.path}")
        return
    if plan.rounds:
        _follow(plan, folder)
    _finish(plan, folder)


def _plan(
    found,
    lesson: Path | None,
    varied: tuple[str, ...],
    settings: tuple[str, ...],
    cluster: str,
    gpu: str | None,
    out: Path | None,
    smoke: bool,
) -> tuple[SweepFolder, sweep.SweepPlan]:
    """A new plan from the lesson and --vary, or the one in --out."""
    if lesson is None:
        if out is None:
            raise click.UsageError("Give a LESSON and --vary to start a sweep, or --out to follow one.")
        folder = SweepFolder(out.resolve())
        return folder, sweep.load_plan(folder)
    if not varied:
        raise click.UsageError("Give at least one --vary NODE.INPUT=VALUES.")
    nodes = found.nodes
    job = headless.load_job(lesson, nodes)
    axes = [sweep.parse_vary(text, job.module) for text in varied]
    sweep.check_settings(job, axes, list(settings), nodes)
    profile = load_profile(cluster)
    plan = sweep.SweepPlan(
        str(lesson.resolve()),
        axes,
        list(settings),
        sweep.grid(axes, list(settings)),
        profile.name,
        profile.gpu(gpu).name,
        smoke=smoke,
        source=str(lesson.resolve()),
    )
    name = job.module.slug if job.module else lesson.stem
    default = Path.home() / "atelier-sweeps" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return SweepFolder((out or default).resolve()), plan


def _comfyui_here() -> tuple[Path, Path] | None:
    """The ComfyUI this command would run, for a profile without an install (the tests' local one)."""
    try:
        return ComfyChoice().install()
    except AtelierError:
        return None


def _say_grid(plan: sweep.SweepPlan, todo: list[sweep.Cell], assignment: list[list[str]]) -> None:
    table = Table(
        "cell",
        *(a.setting for a in plan.axes),
        "task",
        title=f"{plural(len(plan.cells), 'picture')}, {len(todo)} to make"
        + (f"; the same in all: {', '.join(plan.fixed)}" if plan.fixed else ""),
    )
    task_of = {cell_id: index for index, cells in enumerate(assignment) for cell_id in cells}
    for cell in plan.cells:
        values = [s.partition("=")[2] for s in cell.settings[len(plan.fixed) :]]
        table.add_row(cell.id, *values, str(task_of[cell.id]) if cell.id in task_of else "made")
    Console().print(table)


def _follow(plan: sweep.SweepPlan, folder: SweepFolder) -> None:
    """One progress line per task until none is running or waiting; Ctrl+C leaves them running."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
    ]
    job = plan.rounds[-1]["job"]
    try:
        with Progress(*columns, console=Console(stderr=True)) as bars:
            shown: dict[int, int] = {}
            quiet_since: float | None = None
            while True:
                try:
                    states = sweep.task_states(plan, folder)
                    quiet_since = None
                except AtelierError:  # squeue did not answer: a busy controller, for a moment
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > PATIENCE:
                        raise
                    time.sleep(POLL)
                    continue
                for state in states:
                    if state.index not in shown:
                        shown[state.index] = bars.add_task(f"task {state.index}", total=state.total, last="")
                    waiting = f"waiting ({state.reason})" if state.state == "PENDING" and state.reason else ""
                    bars.update(
                        shown[state.index],
                        completed=state.done,
                        description=f"task {state.index} {state.state.lower()}",
                        last=waiting or state.last[:70],
                    )
                if not sweep.running(states):
                    break
                time.sleep(POLL)
    except KeyboardInterrupt:
        click.echo(f"The sweep goes on in Slurm (job {job}). Follow it with: atelier sweep --out {folder.path}")
        click.echo(f"Cancel it with: atelier sweep --cancel --out {folder.path}")
        raise SystemExit(0) from None


def _finish(plan: sweep.SweepPlan, folder: SweepFolder) -> None:
    """Record every output in the ledger, make the contact sheet, and say what is missing."""
    tally = sweep.tally(plan, folder)
    for record in tally.failed:
        click.echo(
            f"{record.id} failed ({sweep.settings_text(plan.cell(record.id), plan)}): {record.message} {record.hint}"
        )
    if tally.done:
        files = sweep.output_files(folder, tally.done)
        ledger.record(folder.outputs, files, "sweep")
        by, vs = sweep.axis_names(plan)
        with Console(stderr=True).status("Making the contact sheet and the workbook"):
            table, written, (x, y) = compare.compare([folder.outputs], folder.comparison, by, vs)
        click.echo(
            f"{plural(len(tally.done), 'picture')} of {len(plan.cells)} made. Contact sheet: "
            f"{compare.label(x) if x else 'one picture'} across" + (f", {compare.label(y)} down" if y else "") + "."
        )
        for path in written:
            click.echo(f"Wrote {path}")
    if tally.left:
        missing = {c.id for c in tally.left}
        current = plan.rounds[-1]["tasks"] if plan.rounds else []
        for state in sweep.task_states(plan, folder) if plan.rounds else []:
            if missing & set(current[state.index]):
                click.echo(f"Task {state.index} ended with: {state.final or '(its log is empty)'}")
        raise AtelierError(
            "sweep-incomplete", left=len(tally.left), cells=len(plan.cells), logs=folder.logs, folder=folder.path
        )
    if tally.failed:
        raise AtelierError("sweep-cells-failed", failed=len(tally.failed), cells=len(plan.cells), folder=folder.path)


def _cancel(out: Path | None) -> None:
    if out is None:
        raise click.UsageError("Give the sweep's folder with --out.")
    folder = SweepFolder(out.resolve())
    plan = sweep.load_plan(folder)
    if not plan.rounds or not sweep.running(sweep.task_states(plan, folder)):
        raise AtelierError("sweep-not-running", folder=folder.path)
    job = sweep.cancel(plan)
    tally = sweep.tally(plan, folder)
    click.echo(
        f"Cancelled job {job}: {plural(len(tally.done), 'picture')} of {len(plan.cells)} made and kept. "
        f"Make the rest with: atelier sweep --out {folder.path}"
    )


@click.command("sweep-task", hidden=True)
@click.argument("folder", type=EXISTING_FOLDER)
@click.option("--round", "round_no", type=int, required=True, help="The round of the sweep this task is in.")
@click.option(
    "--task",
    type=int,
    envvar="SLURM_ARRAY_TASK_ID",
    required=True,
    help="This task's index in the array [env: SLURM_ARRAY_TASK_ID].",
)
@COMFYUI_OPTION
@click.option("--timeout", type=float, default=3600, show_default=True, help="Seconds each picture may take.")
@SHARE_GB
@server_options
def sweep_task_command(
    folder: Path,
    round_no: int,
    task: int,
    options: tuple[str, ...],
    timeout: float,
    share_gb: int | None,
    comfy: ComfyChoice,
) -> None:
    """One task of a sweep's job array: start ComfyUI once and make this task's cells."""
    where = SweepFolder(folder.resolve())
    plan = sweep.load_plan(where)
    cells = sweep.task_cells(plan, round_no, task)
    name = f"{os.environ.get('SLURM_ARRAY_JOB_ID', 'here')}_{task}"
    stop_at = job_deadline(margin=60)
    click.echo(
        f"{time_stamp()} {sweep.progress_line(0, len(cells), '-', 'starting', f'ComfyUI on {socket.gethostname()}')}"
    )
    comfy.install()  # a missing ComfyUI is said before a folder is made for it
    workdir = Path(tempfile.mkdtemp(prefix="atelier-sweep-", dir=os.environ.get("TMPDIR")))
    server = comfy.server(workdir, options=options, share_gb=share_gb)
    try:
        started = time.monotonic()
        server.start()
        ready = f"ComfyUI in {time.monotonic() - started:.1f} s"
        click.echo(f"{time_stamp()} {sweep.progress_line(0, len(cells), '-', 'ready', ready)}")

        def show(progress: sweep.TaskProgress) -> None:
            line = sweep.progress_line(progress.done, progress.total, progress.cell, progress.state, progress.detail)
            click.echo(f"{time_stamp()} {line}")

        made = sweep.run_cells(
            server.client(timeout=60), plan, where, cells, project().nodes, name, show, timeout, stop_at
        )
        click.echo(f"{time_stamp()} This task is finished: {plural(made, 'picture')} made.")
    finally:
        server.stop()
        kept = where.comfyui_log(round_no, task)
        if server.log.is_file():  # the node's disk goes with the job: ComfyUI's log stays beside the task's
            shutil.copyfile(server.log, kept)
            click.echo(f"{time_stamp()} ComfyUI's own log is kept in {kept}")
        shutil.rmtree(workdir, ignore_errors=True)
