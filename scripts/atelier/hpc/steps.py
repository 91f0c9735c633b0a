"""An install as a plan of steps: each with its done-check, run in order, skipped once done.

Apart from install.py, which says *what* the semester's install is (ComfyUI, its custom
nodes, the environments, the files), because this is *how* any such plan runs: the
dry run's description, the logs, the stamps a step leaves, resuming after an
interruption. Nothing here knows which step does what.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from atelier.hpc.packages import NO_TELEMETRY
from atelier.hpc.sources import Sources, record_sources
from atelier.layout import Layout
from atelier.lessons.pin import Pin
from atelier.messages import AtelierError


@dataclass
class InstallStep:
    """One thing install does, with the check that says it is already done."""

    key: str  # short and unique: names its log and its stamp
    title: str  # plain words, shown as it runs
    done: Callable[[], bool]
    commands: list[list[str]] = field(default_factory=list)  # run in order, output to the step's log
    action: Callable[[], None] | None = None  # in-process work after the commands (write a file, verify)
    action_text: str = ""  # what the action does, for the dry run
    stamp: Callable[[], str] | None = None  # fingerprint recorded on success, for checks that need it
    env: dict[str, str] = field(default_factory=dict)  # added to the environment of its commands
    folders: list[Path] = field(default_factory=list)  # made before its commands run
    before: Callable[[], None] | None = None  # a check before its commands: refuse in plain words, change nothing
    before_text: str = ""
    failed: Callable[[Path], AtelierError | None] | None = None  # a plainer error than "see the log", where known


@dataclass
class InstallPlan:
    layout: Layout
    pin: Pin
    sources: Sources
    steps: list[InstallStep]

    def env(self, step: InstallStep) -> dict[str, str]:
        """The environment a step's commands run in: telemetry off, never a prompt."""
        return {**os.environ, **NO_TELEMETRY, "GIT_TERMINAL_PROMPT": "0", "PYTHONUNBUFFERED": "1", **step.env}

    def log(self, step: InstallStep) -> Path:
        return self.layout.logs / f"{self.steps.index(step) + 1:02d}-{step.key}.log"


def digest(*parts: str | Path) -> str:
    """sha256 over text and files' contents; a missing file counts as empty."""
    sha = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            sha.update(part.read_bytes() if part.is_file() else b"")
        else:
            sha.update(part.encode())
        sha.update(b"\0")
    return sha.hexdigest()


def stamp_file(layout: Layout, key: str) -> Path:
    return layout.state / f"{key}.done"


def stamp_holds(layout: Layout, key: str, fingerprint: Callable[[], str]) -> Callable[[], bool]:
    """A check for steps that leave nothing else to look at: the stamp holds this fingerprint."""
    stamp = stamp_file(layout, key)
    return lambda: stamp.is_file() and stamp.read_text(encoding="utf-8") == fingerprint()


def _check_prefix(prefix: Path) -> None:
    """Fail early, in plain words, where the prefix cannot be written."""
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=prefix, prefix=".atelier-write-test-"):
            pass
    except OSError as err:
        raise AtelierError("install-prefix", prefix=prefix, reason=err.strerror or type(err).__name__) from None


def pending(plan: InstallPlan) -> Iterator[tuple[InstallStep, bool]]:
    """Each step and whether it is already done, checked as the iteration reaches it."""
    for step in plan.steps:
        yield step, step.done()


def run_step(plan: InstallPlan, step: InstallStep) -> None:
    """Run one step's check, commands (output to its log) and action, then leave its stamp."""
    log = plan.log(step)
    for folder in [log.parent, *step.folders]:
        folder.mkdir(parents=True, exist_ok=True)
    if step.before:
        step.before()
    with log.open("a", encoding="utf-8") as out:
        for command in step.commands:
            out.write(f"$ {shlex.join(command)}\n")
            out.flush()
            try:
                code = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=plan.env(step),
                    check=False,
                ).returncode
            except OSError as err:
                out.write(f"{err}\n")
                code = 127
            if code != 0:
                out.flush()
                plain = step.failed(log) if step.failed else None
                raise plain or AtelierError("install-step-failed", step=step.title, status=code, log=log)
    if step.action:
        step.action()
    if step.stamp:
        stamp = stamp_file(plan.layout, step.key)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(step.stamp(), encoding="utf-8")


def run_plan(
    plan: InstallPlan, report: Callable[[InstallStep, str], None] = lambda step, state: None
) -> dict[str, int]:
    """Run the plan, skipping finished steps; `report(step, state)` says 'skipped', 'running', 'done'."""
    _check_prefix(plan.layout.prefix)
    record_sources(plan.layout, plan.sources)
    counts = {"done": 0, "skipped": 0}
    for step, finished in pending(plan):
        if finished:
            report(step, "skipped")
            counts["skipped"] += 1
            continue
        report(step, "running")
        run_step(plan, step)
        report(step, "done")
        counts["done"] += 1
    return counts


def describe(step: InstallStep) -> list[str]:
    """The lines a dry run prints under a step: its check, commands and what its action does."""
    lines = [step.before_text] if step.before_text else []
    lines += [shlex.join(command) for command in step.commands]
    return lines + ([step.action_text] if step.action_text else [])
