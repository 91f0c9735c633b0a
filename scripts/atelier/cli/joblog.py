"""What the commands a Slurm job runs for hours share (serve, backup, sweep-task): a log line
with its time, a backup round said the same way, and stopping before the job's end."""

from __future__ import annotations

import os
import signal
import sys
import time

import click

from atelier.hpc import slurm
from atelier.keep.schedule import Round
from atelier.messages import plural


def time_stamp() -> str:
    """Job logs carry a time on each line."""
    return time.strftime("%H:%M:%S")


def say_round(done: Round) -> bool:
    """One backup round on one line, the same for `serve` and `backup`; False when it failed."""
    if not done.result:
        click.echo(f"{time_stamp()} Backup failed: {done.error}")
        return False
    result = done.result
    waiting = f"; {plural(result.waiting, 'file')} still being written, next time" if result.waiting else ""
    kept = done.kept
    also = (
        (
            f" Saved workflows and settings: {plural(kept.copied, 'new or changed file')} to {kept.where} "
            f"({kept.current} already there)."
        )
        if kept
        else ""
    )
    click.echo(
        f"{time_stamp()} Backed up {plural(result.copied, 'new or changed file')} to {result.where} "
        f"({result.current} already there{waiting}) in {result.seconds + (kept.seconds if kept else 0):.1f} s.{also}"
    )
    if done.error:
        click.echo(f"{time_stamp()} Backup of saved workflows and settings failed: {done.error}")
        return False
    return True


def job_deadline(margin: float) -> float | None:
    """For a command a Slurm job runs until its end: Slurm's SIGTERM leaves through `finally`
    (so the last backup and ComfyUI's stop still run), and it stops by itself `margin`
    seconds before the job's time limit (the time.time() returned; None outside a job)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return slurm.stop_time(os.environ.get("SLURM_JOB_ID"), margin=margin)


def stopping() -> None:
    """Once a command is stopping, a second SIGTERM (Slurm signals every process of the job, and a shell's
    `timeout` forwards its own) must not cut the stop short and leave ComfyUI or a tool running."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
