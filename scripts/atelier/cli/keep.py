"""The commands that keep and compare work: `ledger`, `compare` and `backup`.

`backup` and `serve` run the same schedule (keep/schedule.py) and report its rounds
with the same words (joblog.say_round).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from atelier.cli.joblog import job_deadline, say_round, time_stamp
from atelier.cli.lookup import project
from atelier.cli.options import CLUSTER, EXISTING_FOLDER, FOLDER, OUTPUTS
from atelier.hpc.profiles import load_profile
from atelier.keep import backup, classwall, compare, ledger
from atelier.keep.outputs import OK, Output
from atelier.keep.schedule import Schedule
from atelier.layout import expand_home
from atelier.messages import AtelierError, plural


@click.group("ledger")
def ledger_command() -> None:
    """The record of every output's settings, kept in its folder."""


@ledger_command.command("scan")
@click.argument("folder", type=FOLDER)
def ledger_scan(folder: Path) -> None:
    """Read the settings of every output in FOLDER into FOLDER/atelier-ledger.sqlite.

    Reads only files that are new or changed since the last scan. Files without
    ComfyUI settings, cut short or of other kinds are listed, never skipped silently.
    """
    with Console(stderr=True).status("Reading outputs") as status:

        def show(output: Output) -> None:
            status.update(f"Reading {output.file}")

        fresh, unchanged = ledger.scan(folder, show)
    for output in fresh:
        if output.status != OK:
            click.echo(f"{output.status:>14}  {output.file}: {output.note}")
    counts = ledger.counts(fresh)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing new"
    click.echo(
        f"Ledger {folder / ledger.LEDGER}: read {plural(len(fresh), 'file')} ({summary}); "
        f"{unchanged} unchanged since the last scan."
    )


@click.command("compare")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--class",
    "course",
    metavar="COURSE_FOLDER",
    type=click.Path(path_type=Path),
    help="Instead of PATHS: a class's wall from COURSE_FOLDER, which holds one folder (or Box zip) per "
    "student, named after them. A row per student, a column per lesson and value of its knob.",
)
@click.option(
    "--by",
    help="The setting across the contact sheet, e.g. cfg, seed, steps, or 'KSampler.denoise'. "
    "With --class: the setting that splits each lesson into columns, where it differs.",
)
@click.option("--vs", help="The setting down the contact sheet (default: the next one that differs).")
@click.option(
    "--out",
    type=FOLDER,
    default=Path("comparison"),
    show_default=True,
    help="The folder to write the workbook, CSV and contact sheet into.",
)
@click.option(
    "--within",
    type=EXISTING_FOLDER,
    help="Refuse any of PATHS that is not inside this folder, links followed (ComfyUI's Compare page "
    "passes the outputs folder).",
)
@click.option(
    "--names",
    type=click.Choice(classwall.NAMES),
    default=classwall.NAMES[0],
    show_default=True,
    help=f"With --class: how students are named. initials: by their initials, but for those listed in the "
    f"course folder's {classwall.SHOW_NAMES}, who agreed to their name; full: everyone by name, for "
    "your own review only.",
)
def compare_command(
    paths: tuple[Path, ...],
    course: Path | None,
    by: str | None,
    vs: str | None,
    out: Path,
    within: Path | None,
    names: str,
) -> None:
    """Compare outputs side by side: a workbook, a CSV and a contact sheet.

    PATHS are output files or folders of them. One row per output, the settings that
    differ highlighted; the contact sheet (contact-sheet.html) is a grid with one
    setting across and another down. Everything stays on this computer.

    With --class, the wall of a whole class (class-wall.html): every student's work in
    one page, for a crit. Their folders are only read; nothing is written into them.
    """
    if within:
        paths = tuple(compare.confine(list(paths), within))
    if bool(paths) == bool(course):
        raise AtelierError("compare-what")
    if course:
        _class_wall(course, by, vs, out, names)
        return
    with Console(stderr=True).status("Reading outputs and making thumbnails"):
        table, written, (x, y) = compare.compare(list(paths), out, by, vs)
    for item in table.skipped:
        click.echo(f"Not compared: {item.path} ({item.output.status}: {item.output.note})")
    differ = ", ".join(compare.label(c) for c in table.columns if c in table.varying) or "nothing"
    click.echo(f"Compared {plural(len(table.items), 'output')}; settings that differ: {differ}.")
    if x:
        click.echo(f"Contact sheet: {compare.label(x)} across" + (f", {compare.label(y)} down." if y else "."))
    for path in written:
        click.echo(f"Wrote {path}")


def _class_wall(course: Path, by: str | None, vs: str | None, out: Path, names: str) -> None:
    """`compare --class`: the lessons' knobs come from the project's modules, when there is a project."""
    if vs:
        raise AtelierError("class-vs")
    try:
        lessons = project().modules
    except AtelierError:
        lessons = []  # no project here: lessons are named by their folder and split by the first setting that differs
    with Console(stderr=True).status("Reading the students' outputs and making thumbnails") as status:

        def show(output: Output) -> None:
            status.update(f"Reading {output.file}")

        wall = classwall.wall(course, out, by, lessons, show, names)
    for warning in wall.warnings:
        click.echo(f"warning: {warning}", err=True)
    shown = [s for s in wall.students if not s.problem]
    click.echo(
        f"Class wall of {plural(len(wall.students), 'student')} ({len(shown)} with work to show), "
        f"{plural(len(wall.table.items), 'output')}; not compared: {len(wall.table.skipped)}."
    )
    splits = {
        c.lesson: f"{c.title} by {compare.label(c.knob)}" if c.knob else f"{c.title} in one column"
        for c in wall.columns
    }
    click.echo("Columns: " + "; ".join(splits.values()) + ".")
    for path in wall.written:
        click.echo(f"Wrote {path}")


@click.group("backup", invoke_without_command=True)
@OUTPUTS
@click.option(
    "--to",
    "to",
    envvar="ATELIER_BACKUP_TO",
    help="REMOTE:FOLDER to copy into (default: the profile's, e.g. box:Atelier) [env: ATELIER_BACKUP_TO].",
)
@click.option("--now", is_flag=True, help="Back up once and stop.")
@click.option("--every", type=click.IntRange(min=1), help="Minutes between backups (default: the profile's).")
@CLUSTER
@click.option("--bwlimit", hidden=True, help="rclone's bandwidth limit, e.g. 1M (tests slow a copy down with it).")
@click.pass_context
def backup_command(
    ctx: click.Context,
    outputs: Path | None,
    to: str | None,
    now: bool,
    every: int | None,
    cluster: str,
    bwlimit: str | None,
) -> None:
    """Copy outputs to Box (or another rclone remote); never deletes anything there.

    New and changed files go to REMOTE:FOLDER/outputs/, and the profile's ComfyUI folder
    (saved workflows, settings) to REMOTE:FOLDER/comfyui/. When a file changed, the older
    copy already there moves to REMOTE:FOLDER/replaced/DATE/. Safe to interrupt
    and run again. With --now it backs up once; otherwise it backs up every few
    minutes until stopped, and once more as it stops (Ctrl+C, or Slurm's signal).
    What is not given comes from the cluster profile.
    """
    if ctx.invoked_subcommand:
        return
    profile = load_profile(cluster)
    settings = profile.backup
    folder = outputs or Path(os.path.expandvars(profile.outputs))
    target = backup.Target.parse(to) if to else settings.target
    own = expand_home(profile.user_folder)  # the student's ComfyUI folder, once a session has made it
    schedule = Schedule(
        folder,
        target,
        every or settings.every_minutes or 15,
        bwlimit=bwlimit,
        user_folder=own if own.is_dir() else None,
    )
    if now:
        if not say_round(schedule.round(final=True)):
            sys.exit(1)
        return
    schedule.check_remote()
    stop_at = job_deadline(margin=120)
    click.echo(f"{time_stamp()} Backing up {folder} to {target} every {schedule.minutes} min; once more when stopped.")
    try:
        while not (stop_at and time.time() >= stop_at):
            if schedule.is_due():
                say_round(schedule.round())  # a failed round is reported; the next may work
            time.sleep(1)
    finally:
        say_round(schedule.round(final=True))


@backup_command.command("setup")
@CLUSTER
@click.option("--browser-here", is_flag=True, help="This computer has a web browser: sign in with it directly.")
def backup_setup(cluster: str, browser_here: bool) -> None:
    """Connect your Box (once): sign in, then check that a test folder can be made.

    On a cluster there is no web browser, so it asks you to run one command on your
    own computer and paste back what it prints. Nothing is copied yet. The cluster
    profile names the remote.
    """
    settings = load_profile(cluster).backup
    title = settings.title
    if settings.remote in backup.remotes():
        click.confirm(f"{title} is already connected as '{settings.remote}'. Connect it again?", abort=True)
    if browser_here:
        click.echo(f"A browser window opens: sign in to {title} with your university account.")
        token = backup.authorize_here(settings)
    else:
        click.echo(f"Connecting {title} takes three steps and a few minutes.\n")
        click.echo("1. On your own computer (the one with a web browser), install rclone from rclone.org/install.")
        click.echo("2. In its terminal (Mac: Terminal; Windows: PowerShell), run:\n")
        click.echo(f"      {backup.authorize_command(settings)}\n")
        click.echo(f"   A browser window opens: sign in to {title} with your university account and allow access.")
        click.echo("   The terminal then prints a block of text between two arrows (---> and <---).")
        click.echo("3. Copy that whole block and paste it here, then press Enter twice.\n")
        lines: list[str] = []
        while True:
            line = click.prompt("", prompt_suffix="", default="", show_default=False)
            if not line.strip() and lines:
                break
            lines.append(line)
        token = backup.parse_token("\n".join(lines))
    backup.save_remote(settings, token)
    files = backup.check(settings.target)
    click.echo(
        f"Connected. Outputs will be copied to {settings.target.path(backup.OUTPUTS)} "
        f"in your {title} ({plural(files, 'file')} there now)."
    )
    click.echo(f"Every session backs up every {settings.every_minutes} minutes and once more when it ends.")
