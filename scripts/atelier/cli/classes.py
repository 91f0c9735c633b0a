"""`atelier class plan`: what a class takes of the cluster's GPUs, before the class meets."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from atelier.cli.lookup import module_folder, project
from atelier.hpc import classplan
from atelier.hpc.profiles import load_profile
from atelier.lessons.modules import load_module
from atelier.messages import plural
from atelier.site.pages.teach import WEEKS, lesson_weeks


@click.group("class")
def class_group() -> None:
    """Plan a class on the cluster's GPUs."""


@class_group.command("plan")
@click.argument("lesson")
@click.option("--students", type=click.IntRange(min=1), required=True, help="Students in the class.")
@click.option(
    "--cluster",
    "clusters",
    multiple=True,
    help="A cluster profile, by name or file (repeatable; default: every cluster students use).",
)
@click.option(
    "--free",
    type=click.IntRange(min=0),
    help="GPUs free when the class meets (ask research computing): who waits, and for how long.",
)
@click.option("--weeks", type=click.IntRange(min=1), default=WEEKS, show_default=True, help="Weeks in the semester.")
def class_plan_command(lesson: str, students: int, clusters: tuple[str, ...], free: int | None, weeks: int) -> None:
    """How many GPUs or shares of one a class doing LESSON takes at once, and what it books.

    For each GPU choice of each cluster: whether the lesson fits, how many sessions one card
    holds, the cards the class holds at once, the GPU-hours of the meeting and of a semester of
    the modules' suggested plan (a week whose lessons do not fit a share is booked on whole
    cards), and how much slower a picture is when a card's sessions all run at once: measured
    where benchmarks/shared_gpu.py recorded a run on that card, estimated otherwise.
    """
    module = load_module(module_folder(lesson))
    found = project()
    profiles = [load_profile(name) for name in clusters] or [p for p in found.profiles if not p.for_tests]
    plans = classplan.plan(profiles, module, students, classplan.read_measured(found.root / classplan.SHARED_RECORDS))
    weeks_of = lesson_weeks(found.modules, weeks)
    console = Console(highlight=False)
    cost = classplan.cost(module)
    console.print(
        f"{module.title}: {cost.minutes} minutes, so each student books {plural(cost.hours, 'hour')}; "
        f"it needs {cost.memory_gb:g} GB of GPU memory."
    )
    for profile in profiles:
        rows = [p for p in plans if p.profile is profile]
        if not rows:
            console.print(f"{profile.title}: no GPU choices in its profile.")
            continue
        table = Table(title=f"{profile.title}: a class of {students}", title_justify="left")
        heads = ["GPU choice", "sessions a card", "cards at once", "GPU-hours", f"{weeks} weeks"]
        heads += [f"{plural(free, 'GPU')} free"] if free is not None else []
        for head in [*heads, "a picture when all run"]:
            table.add_column(head)
        for row in rows:
            if not row.fits:
                table.add_row(row.gpu.title, str(row.per_card), "too small for it", *["—"] * (len(heads) - 2))
                continue
            cells = [
                row.gpu.title,
                str(row.per_card),
                str(row.cards),
                classplan.hours_text(row.gpu_hours, profile.gpu_hour_cost),
                classplan.hours_text(classplan.semester_hours(row, weeks_of), profile.gpu_hour_cost),
            ]
            if free is not None:
                waiting, hours = row.waiting(free)
                cells.append(
                    "all start"
                    if not waiting
                    else f"{waiting} wait" + (f" up to {plural(hours, 'hour')}" if hours else ", none can start")
                )
            table.add_row(*cells, row.slower())
        console.print(table)
