"""Sweeps: a grid of knob values, run as one Slurm job array, kept in one folder.

Why a job array: each task is one GPU, starts ComfyUI once and runs its share of the
grid through the same engine as `atelier run` (comfy/headless.py), so N GPUs make the
grid about N times sooner and a task that dies loses only its own unfinished cells.

Everything a sweep knows is in its folder (layout.SweepFolder): the plan, one small JSON
file per finished or failed cell, each task's log, and the outputs. Nothing else holds
state, so a re-run reads the folder and submits only what is left. Tasks never write the
ledger (SQLite is unsafe when processes on several nodes share one file on a network
file system): the command that follows the sweep records every output once it ends.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from atelier.comfy import headless
from atelier.comfy.client import ComfyClient
from atelier.files import Lock, read_json, write_whole
from atelier.hpc import slurm
from atelier.hpc.profiles import Gpu, Profile, atelier_command, comfyui_args, sbatch_options
from atelier.layout import SweepFolder
from atelier.lessons.modules import Module
from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError

JOB_NAME = "atelier-sweep"
RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)\s*(?::\s*(\d+(?:\.\d+)?))?\s*$")
MOST_CELLS = 10_000  # a typo in a range must not submit a million pictures
# Slurm's states of a job that still runs or may yet; any other state squeue lists has ended.
ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)


@dataclass(frozen=True)
class Axis:
    """One varied knob: `Node title.input` and its values, as `--set` would write them."""

    setting: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its id (a file name) and the settings that make it."""

    id: str
    settings: tuple[str, ...]  # "Node.input=value", the fixed ones first


def _number(value: Decimal) -> str:
    """A range's value as a person writes it: 2, 2.5, 100, never 2.50000001 or 1E+2."""
    return format(value.normalize(), "f")


def expand_values(setting: str, text: str) -> tuple[str, ...]:
    """`2,4,7`, `1..4`, `2..8:2`, or a YAML list `["a, b", "c"]` (for text with commas)."""
    text = text.strip()
    if text.startswith("["):
        try:
            listed = yaml.safe_load(text)
        except yaml.YAMLError:
            listed = None
        if not isinstance(listed, list) or not listed:
            raise AtelierError("sweep-values", setting=setting, values=text)
        return tuple(str(v) for v in listed)
    values: list[str] = []
    for piece in text.split(","):
        if not piece.strip():
            raise AtelierError("sweep-values", setting=setting, values=text)
        if match := RANGE.match(piece):
            try:
                start, stop, step = (Decimal(g) for g in (match.group(1), match.group(2), match.group(3) or "1"))
            except InvalidOperation:
                raise AtelierError("sweep-values", setting=setting, values=text) from None
            if step <= 0 or stop < start or (stop - start) / step > MOST_CELLS:
                raise AtelierError("sweep-values", setting=setting, values=text)
            current = start
            while current <= stop:
                values.append(_number(current))
                current += step
        else:
            values.append(piece.strip())
    return tuple(values)


def parse_vary(text: str, module: Module | None) -> Axis:
    """`--vary NODE.INPUT=VALUES`; `--vary NODE.INPUT` alone takes the lesson's own "Try" values."""
    name, separator, values = text.partition("=")
    name = name.strip()
    title, input_name = headless.knob_name(name, text)
    if separator:
        return Axis(name, expand_values(name, values))
    knob = next((k for k in (module.about.knobs if module else ()) if (k.node, k.input) == (title, input_name)), None)
    if knob is None or not knob.tries:
        raise AtelierError("sweep-no-tries", setting=name, lesson=module.slug if module else "this workflow")
    return Axis(name, tuple(str(v) for v in knob.tries))


def grid(axes: list[Axis], fixed: list[str]) -> list[Cell]:
    """Every combination, the first axis changing slowest; each cell's id is its place."""
    names = [a.setting for a in axes]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise AtelierError("sweep-axis-twice", setting=twice)
    combos = list(itertools.product(*(a.values for a in axes)))
    if len(combos) > MOST_CELLS:
        raise AtelierError("sweep-too-big", cells=len(combos), most=MOST_CELLS)
    width = max(3, len(str(len(combos) - 1)))
    return [
        Cell(f"cell-{index:0{width}d}", (*fixed, *(f"{a.setting}={v}" for a, v in zip(axes, combo, strict=True))))
        for index, combo in enumerate(combos)
    ]


def check_settings(job: headless.Job, axes: list[Axis], fixed: list[str], node_list: NodeList) -> None:
    """Every value of every axis, and every fixed setting, checked before anything is submitted."""
    headless.apply_settings(copy.deepcopy(job), fixed, node_list)
    for axis in axes:
        for value in axis.values:
            headless.apply_settings(copy.deepcopy(job), [f"{axis.setting}={value}"], node_list)


def split(cells: list[Cell], tasks: int) -> list[list[str]]:
    """Cells dealt out in turn, so each task gets every part of the grid (and the same number ±1)."""
    count = max(1, min(tasks, len(cells)))
    return [[c.id for c in cells[k::count]] for k in range(count)]


# --- the sweep's folder ---------------------------------------------------------------------


@dataclass
class SweepPlan:
    """`sweep.json`: what the sweep makes, and each round of tasks submitted to make it."""

    target: str  # the sweep's own copy of the lesson, absolute: the lesson may change before a re-run
    axes: list[Axis]
    fixed: list[str]
    cells: list[Cell]
    cluster: str
    gpu: str
    rounds: list[dict[str, Any]] = field(default_factory=list)  # {"round", "job", "tasks": [[cell ids]], "submitted"}
    smoke: bool = False  # steps and sizes held down, for a CPU (the tests, the lesson pictures)
    smoke_side: int = headless.SMOKE_IMAGE_SIDE  # with smoke: a picture's longer side at most
    source: str = ""  # the module folder or workflow file it was copied from, as given

    def to_json(self) -> dict[str, Any]:
        return {"atelier_sweep": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepPlan:
        return cls(
            data["target"],
            [Axis(a["setting"], tuple(a["values"])) for a in data["axes"]],
            list(data["fixed"]),
            [Cell(c["id"], tuple(c["settings"])) for c in data["cells"]],
            data["cluster"],
            data["gpu"],
            list(data.get("rounds", [])),
            bool(data.get("smoke")),
            int(data.get("smoke_side", headless.SMOKE_IMAGE_SIDE)),
            str(data.get("source", "")),
        )

    def same_grid(self, other: SweepPlan) -> bool:
        return (self.source, self.axes, self.fixed, self.cells, self.smoke, self.smoke_side) == (
            other.source,
            other.axes,
            other.fixed,
            other.cells,
            other.smoke,
            other.smoke_side,
        )

    def cell(self, cell_id: str) -> Cell:
        return next(c for c in self.cells if c.id == cell_id)


def save_plan(folder: SweepFolder, plan: SweepPlan) -> None:
    folder.path.mkdir(parents=True, exist_ok=True)
    write_whole(folder.plan, json.dumps(plan.to_json(), indent=1).encode())


def load_plan(folder: SweepFolder) -> SweepPlan:
    if not folder.plan.is_file():
        raise AtelierError("sweep-missing", folder=folder.path)
    try:
        return SweepPlan.from_json(read_json(folder.plan))
    except (KeyError, TypeError, ValueError) as err:
        raise AtelierError("sweep-plan-damaged", file=folder.plan, problem=err) from None


def open_plan(folder: SweepFolder, wanted: SweepPlan | None) -> SweepPlan:
    """The folder's plan; a new one is written, and a folder holding another grid is refused."""
    if wanted is None:
        return load_plan(folder)
    if folder.plan.is_file():
        found = load_plan(folder)
        if not found.same_grid(wanted):
            raise AtelierError("sweep-other-grid", folder=folder.path)
        return found
    if folder.path.is_dir() and any(not p.name.startswith(".") for p in folder.path.iterdir()):  # our lock aside
        raise AtelierError("sweep-folder-taken", folder=folder.path)
    wanted.target = str(copy_lesson(Path(wanted.source or wanted.target), folder))
    save_plan(folder, wanted)
    return wanted


def copy_lesson(source: Path, folder: SweepFolder) -> Path:
    """The lesson as it is now, in the sweep's folder: every round and re-run makes the same workflow."""
    if source.is_dir():
        target = folder.lesson / source.resolve().name  # the folder's name is the lesson's: outputs say it
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        return target.resolve()
    target = folder.lesson / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    if (source.parent / "inputs").is_dir():
        shutil.copytree(source.parent / "inputs", folder.lesson / "inputs")
    return target.resolve()


@dataclass(frozen=True)
class CellRecord:
    """A cell's file in cells/: written once its outputs are whole, or once it failed for good."""

    id: str
    status: str  # done or failed
    settings: list[str]
    outputs: list[str] = field(default_factory=list)  # relative to the sweep's outputs folder
    seconds: float = 0.0
    code: str = ""  # the message's code, when it failed
    message: str = ""  # what happened, in the message's words
    hint: str = ""  # and what to do
    task: str = ""  # job_task that made it


def record(folder: SweepFolder, cell_id: str) -> CellRecord | None:
    """One cell's record; an unreadable one counts as none (the cell is made again)."""
    try:
        return CellRecord(**read_json(folder.cell_record(cell_id)))
    except (AtelierError, OSError, TypeError, ValueError):
        return None


def records(folder: SweepFolder) -> dict[str, CellRecord]:
    """Every cell that has a readable record."""
    found: dict[str, CellRecord] = {}
    for path in sorted(folder.cells.glob("cell-*.json")) if folder.cells.is_dir() else []:
        if (one := record(folder, path.stem)) is not None:
            found[path.stem] = one
    return found


def left(plan: SweepPlan, folder: SweepFolder) -> list[Cell]:
    """The cells a re-run makes: not done (failed ones are tried again)."""
    done = {cell_id for cell_id, found in records(folder).items() if found.status == "done"}
    return [c for c in plan.cells if c.id not in done]


# --- the job array ------------------------------------------------------------------------------


def job_script(
    plan: SweepPlan,
    folder: SweepFolder,
    profile: Profile,
    gpu: Gpu,
    hours: float,
    round_no: int,
    tasks: int,
    comfyui: tuple[Path, Path] | None = None,
) -> str:
    """The array's batch script: one task a GPU, each `atelier sweep-task` over its share."""
    options = [
        f"--job-name={JOB_NAME}",
        f"--array=0-{tasks - 1}",
        *sbatch_options(profile, gpu),
        f"--time={slurm.time_limit(hours)}",
        f"--output={folder.task_log(round_no, '%a')}",
        f"--chdir={folder.path}",
    ]
    lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in options), "set -euo pipefail"]
    lines.append(slurm.WHERE.format(what="sweep task ${SLURM_ARRAY_TASK_ID:-0}"))
    if gpu.cpu:  # on the CPU, PyTorch takes every core of the node: each task keeps to the ones it asked for
        lines.append('export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"')
    lines += slurm.environment(profile)
    command = [
        *atelier_command(profile),
        "sweep-task",
        str(folder.path),
        "--round",
        str(round_no),
        *comfyui_args(profile, gpu, comfyui),
    ]
    lines.append("exec " + " ".join(shlex.quote(part) for part in command))
    return "\n".join(lines) + "\n"


def submit(
    plan: SweepPlan,
    folder: SweepFolder,
    script: str,
    assignment: list[list[str]],
    hours: float,
    env: dict[str, str] | None = None,
) -> str:
    """Write the round into the plan, then submit it: a task always finds its share written.

    Called with the folder's lock held (`submitting`), so two commands never submit one round twice.
    """
    round_no = len(plan.rounds) + 1
    plan.rounds.append({"round": round_no, "job": "", "tasks": assignment, "hours": hours, "submitted": time.time()})
    save_plan(folder, plan)
    folder.logs.mkdir(parents=True, exist_ok=True)
    path = folder.job_script(round_no)
    path.write_text(script, encoding="utf-8")
    try:
        job_id = slurm.submit_file(path, env)
    except BaseException:  # refused, no answer, or Ctrl+C: no round without a job is left behind
        plan.rounds.pop()
        save_plan(folder, plan)
        raise
    plan.rounds[-1]["job"] = job_id
    save_plan(folder, plan)
    return job_id


def submitting(folder: SweepFolder) -> Lock:
    """The lock held from "is anything running?" to the new round saved."""
    folder.path.mkdir(parents=True, exist_ok=True)
    return Lock(folder.path / ".submit.lock", busy=lambda lock: AtelierError("sweep-locked", lock=lock))


# --- following it ---------------------------------------------------------------------------------

# What a task prints for each step; `follow` reads the same lines back from its log.
LINE = re.compile(r"\bsweep (?P<done>\d+)/(?P<total>\d+) (?P<cell>cell-\d+|-) (?P<state>[a-z]+)(?:: (?P<detail>.*))?$")


def progress_line(done: int, total: int, cell: str, state: str, detail: str = "") -> str:
    """One line of a task's log: `sweep 2/6 cell-004 done: 3.1 s, KSampler.cfg=4`."""
    return f"sweep {done}/{total} {cell} {state}" + (f": {detail}" if detail else "")


@dataclass
class TaskState:
    """One task as the follower sees it: Slurm's state and the task's last line."""

    index: int
    total: int  # cells given to it
    state: str = "PENDING"  # Slurm's, or ENDED once it is no longer listed
    done: int = 0
    last: str = ""  # what it said last, for the progress line
    reason: str = ""
    final: str = ""  # the log's last line, whatever it is: why a task ended early


def task_states(plan: SweepPlan, folder: SweepFolder, env: dict[str, str] | None = None) -> list[TaskState]:
    """The current round's tasks: what Slurm says of each, and how far its log says it got."""
    current = plan.rounds[-1]
    listed = slurm.array_tasks(current["job"], env) if current["job"] else {}
    states = []
    for index, cells in enumerate(current["tasks"]):
        task = TaskState(index, len(cells))
        slurm_state = listed.get(index)
        if slurm_state and slurm_state[0] in ACTIVE:
            task.state, task.reason = slurm_state
        else:  # not listed, listed as ended (a site may list finished jobs), or never submitted
            task.state = "ENDED"
        lines = [line.strip() for line in _tail(folder.task_log(current["round"], index)) if line.strip()]
        task.final = lines[-1] if lines else ""
        for line in lines:
            if match := LINE.search(line):
                task.done, task.last = int(match.group("done")), f"{match.group('cell')} {match.group('state')}"
                if match.group("detail"):
                    task.last += f": {match.group('detail')}"
        states.append(task)
    return states


def _tail(log: Path) -> list[str]:
    try:
        return log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def running(states: Iterable[TaskState]) -> bool:
    return any(s.state != "ENDED" for s in states)


def cancel(plan: SweepPlan, env: dict[str, str] | None = None) -> str | None:
    """Cancel the current round; each task's running picture is lost, its finished ones kept."""
    job = plan.rounds[-1]["job"] if plan.rounds else ""
    if not job:
        return None
    slurm.cancel(job, env)
    return job


# --- a task ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskProgress:
    """What a task reports as it goes (the command prints it as a progress line)."""

    done: int
    total: int
    cell: str
    state: str  # running, done, failed
    detail: str = ""


def task_cells(plan: SweepPlan, round_no: int, task: int) -> list[Cell]:
    """This task's share of its round (run_cells skips what is done by the time it gets there)."""
    rounds = [r for r in plan.rounds if r["round"] == round_no]
    if not rounds or not 0 <= task < len(rounds[0]["tasks"]):
        raise AtelierError("sweep-task-unknown", round=round_no, task=task)
    return [plan.cell(cell_id) for cell_id in rounds[0]["tasks"][task]]


def settings_text(cell: Cell, plan: SweepPlan) -> str:
    """Only the varied settings, for a progress line: the fixed ones are the same everywhere."""
    return ", ".join(cell.settings[len(plan.fixed) :])


def run_cells(
    client: ComfyClient,
    plan: SweepPlan,
    folder: SweepFolder,
    cells: list[Cell],
    node_list: NodeList,
    task: str,
    on_progress: Callable[[TaskProgress], None],
    timeout: float = 3600.0,
    stop_at: float | None = None,
    job: headless.Job | None = None,
) -> int:
    """Make each cell not yet done, keeping its outputs in outputs/<cell>/; the number made.

    A cell that fails (a value ComfyUI refuses, the GPU out of memory) is recorded with the
    plain message and the others go on; ComfyUI itself stopping ends the task, leaving its
    cells for a re-run. `job` is the plan's lesson already loaded (and perhaps trimmed).
    """
    job = job or headless.load_job(Path(plan.target), node_list)
    made = 0
    for number, cell in enumerate(cells, 1):
        finished = record(folder, cell.id)
        if finished and finished.status == "done":
            on_progress(TaskProgress(number, len(cells), cell.id, "skipped", "made already"))
            continue
        if stop_at and time.time() >= stop_at:
            on_progress(TaskProgress(number - 1, len(cells), cell.id, "stopped", "the task's time is nearly up"))
            break
        on_progress(TaskProgress(number - 1, len(cells), cell.id, "running", settings_text(cell, plan)))
        result = run_cell(client, job, plan, folder, cell, node_list, task, timeout)
        if result.status == "done":
            made += 1
            detail = f"{result.seconds:.1f} s, {settings_text(cell, plan)}"
        else:
            detail = f"{result.message} ({settings_text(cell, plan)})"
        on_progress(TaskProgress(number, len(cells), cell.id, result.status, detail))
    return made


def run_cell(
    client: ComfyClient,
    job: headless.Job,
    plan: SweepPlan,
    folder: SweepFolder,
    cell: Cell,
    node_list: NodeList,
    task: str,
    timeout: float,
) -> CellRecord:
    """One cell through `atelier run`'s engine; its record is written after its files are whole."""
    mine = copy.deepcopy(job)
    headless.apply_settings(mine, list(cell.settings), node_list)
    if plan.smoke:
        mine = headless.smoke_settings(
            mine, keep={s.partition("=")[0] for s in cell.settings[len(plan.fixed) :]}, image_side=plan.smoke_side
        )
    staging = folder.outputs / f".{cell.id}.{task}"  # hidden until whole: the ledger and compare skip it
    shutil.rmtree(staging, ignore_errors=True)
    try:
        result = headless.execute(client, mine, staging, node_list, timeout)
    except AtelierError as err:
        if err.code == "server-died":
            raise
        made = CellRecord(
            cell.id, "failed", list(cell.settings), code=err.code, message=err.text, hint=err.hint, task=task
        )
    else:
        made = _kept(folder, cell, staging, result, task)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    folder.cells.mkdir(parents=True, exist_ok=True)
    write_whole(folder.cell_record(cell.id), json.dumps(asdict(made), indent=1).encode())
    return made


def _kept(folder: SweepFolder, cell: Cell, staging: Path, result: headless.RunResult, task: str) -> CellRecord:
    """The cell's files moved from where they were written to outputs/<cell>/, all at once."""
    if not result.outputs:
        empty = AtelierError("sweep-no-output")
        return CellRecord(
            cell.id, "failed", list(cell.settings), code=empty.code, message=empty.text, hint=empty.hint, task=task
        )
    final = folder.outputs / cell.id
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    outputs = [(final / p.relative_to(staging)).relative_to(folder.outputs).as_posix() for p in result.outputs]
    return CellRecord(cell.id, "done", list(cell.settings), outputs, round(result.seconds, 3), task=task)


# --- when it ends ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    done: list[CellRecord]
    failed: list[CellRecord]
    left: list[Cell]  # neither: a task ended (killed, out of time) before making them


def tally(plan: SweepPlan, folder: SweepFolder) -> Tally:
    found = records(folder)
    done = [found[c.id] for c in plan.cells if c.id in found and found[c.id].status == "done"]
    failed = [found[c.id] for c in plan.cells if c.id in found and found[c.id].status == "failed"]
    return Tally(done, failed, [c for c in plan.cells if c.id not in found])


def output_files(folder: SweepFolder, done: list[CellRecord]) -> list[Path]:
    return [folder.outputs / name for cell in done for name in cell.outputs if (folder.outputs / name).is_file()]


def axis_names(plan: SweepPlan) -> tuple[str | None, str | None]:
    """The contact sheet's across and down: the first two varied knobs."""
    names = [a.setting for a in plan.axes if len(a.values) > 1]
    return (names[0] if names else None, names[1] if len(names) > 1 else None)
