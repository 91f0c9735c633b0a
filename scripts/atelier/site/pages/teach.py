"""Generated parts of the Teach pages: the figures instructors plan a class with.

GPU time, which GPUs fit a lesson, the order prerequisites allow, the weeks of a
semester, the knobs a crit asks about, the shell line for `atelier compare` and the
semester this site describes all restate module.yaml, the cluster profiles or the
semester pin. They are made here at build time, so a changed
minute, gigabyte or pin changes the page an instructor books time from.

The public functions take their sources as arguments (tests pass altered copies);
`MARKERS` hands them the project the site is built from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mkdocs.exceptions import PluginError

from atelier.hpc import classplan
from atelier.hpc.classplan import cost
from atelier.hpc.profiles import Gpu, Profile, installed_profiles
from atelier.layout import Layout
from atelier.lessons.modules import LEVELS, Module
from atelier.lessons.pin import TERMS, Pin
from atelier.messages import plural
from atelier.project import Project
from atelier.site.markdown import table
from atelier.site.pages import lessons
from atelier.tools.declaration import Tool

GPU_TIME_MARKER = "<!-- gpu time per module -->"
GPU_EXAMPLE_MARKER = "<!-- gpu time example -->"
SESSIONS_MARKER = "<!-- session request per cluster -->"
ORDER_MARKER = "<!-- module order -->"
PLAN_MARKER = "<!-- semester plan -->"
CRIT_MARKERS = {level: f"<!-- crit knobs: {level} -->" for level in LEVELS}
SHELL_MARKER = "<!-- instructor shell per cluster -->"
SEMESTER_MARKER = "<!-- this semester -->"
TERMS_MARKER = "<!-- semester terms -->"
TOOLS_MARKER = "<!-- tools for assignments -->"
CLASS_PLAN_MARKER = "<!-- class plan -->"
EXAMPLE_CLASS = 20  # students in the worked example
WEEKS = 14  # a semester of weekly meetings
CRIT_PAGE = "crit.md"  # the rubrics, one section per level (its heading's anchor is the level)
LESSONS = "../lessons"  # the markers sit on pages in teach/, one folder below the site root


def _title(module: Module) -> str:
    return module.title.replace("|", "\\|")


def _link(module: Module) -> str:
    return f"[{_title(module)}]({LESSONS}/{module.slug}.md)"


def _number(value: float) -> str:
    """1,200 for people; 2.5 stays 2.5, 4.0 reads 4."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


def gpu_profiles(profiles: list[Profile]) -> list[tuple[Profile, list[Gpu]]]:
    """Each profile with its GPU choices; CPU-only and stand-in choices (the test machine's) are left out."""
    found = [(p, [g for g in p.gpus.values() if not g.cpu]) for p in profiles]
    return [(p, gpus) for p, gpus in found if gpus]


def fits(gpus: list[Gpu], memory_gb: float) -> str:
    """The choices whose card holds the module; a choice without `memory_gb` cannot be judged."""
    fitting = [g.title for g in gpus if g.memory_gb and g.memory_gb >= memory_gb]
    unknown = [f"{g.title} (memory not in the profile)" for g in gpus if not g.memory_gb]
    if len(fitting) == len(gpus) > 1:
        return "every choice"
    return ", ".join(fitting + unknown) or "none: too little memory"


def gpu_time_table(modules: list[Module], profiles: list[Profile]) -> str:
    """One row per module: its minutes, the session to book, GPU minutes and the GPUs it fits."""
    clusters = gpu_profiles(profiles)
    head = [
        "Module",
        "Level",
        "Teaching",
        "Exercises",
        "Book a session of",
        "GPU minutes per student",
        "GPU memory",
        *(f"Fits on {p.title}" for p, _ in clusters),
    ]
    rows = []
    for module in lessons.ordered(modules):
        c = cost(module)
        row = [
            _link(module),
            str(module.about.level),
            f"{c.teaching} min",
            f"{c.exercises} min",
            f"{c.hours} hour{'s' * (c.hours != 1)}",
            _number(c.gpu_minutes),
            f"{_number(c.memory_gb)} GB",
        ]
        row += [fits(gpus, c.memory_gb) for _, gpus in clusters]
        rows.append(row)
    lines = [table(head, rows)]
    lines += [
        "",
        "A GPU choice fits when its card's memory (the `memory_gb` of that choice in the cluster "
        "profile) is at least the module's GPU memory.",
    ]
    return "\n".join(lines)


def _needs(module: Module) -> list[str]:
    return list(module.about.prerequisites)


def _level(module: Module) -> str:
    return module.about.level or LEVELS[-1]


def in_order(modules: list[Module]) -> list[Module]:
    """Every module after its prerequisites; among those ready, the lower level first, then its `order`,
    then the lesson list's order (a module without `order`, such as a new one, after those with one)."""
    rank = {m.slug: i for i, m in enumerate(lessons.ordered(modules))}
    key = {m.slug: (LEVELS.index(_level(m)), m.about.order is None, m.about.order or 0, rank[m.slug]) for m in modules}
    known = {m.slug for m in modules}
    left = {m.slug: m for m in modules}
    done: list[Module] = []
    while left:
        ready = [m for m in left.values() if all(p in {d.slug for d in done} or p not in known for p in _needs(m))]
        ready = ready or list(left.values())  # a loop of prerequisites: list the rest rather than stop the build
        chosen = min(ready, key=lambda m: key[m.slug])
        done.append(left.pop(chosen.slug))
    return done


def order_table(modules: list[Module]) -> str:
    """One order in which every module comes after the modules it needs, with its week in the semester plan."""
    by_slug = {m.slug: m for m in modules}
    weeks = {m.slug: week.number for week in semester_plan(modules) for m in week.modules}
    rows = []
    for step, module in enumerate(in_order(modules), start=1):
        first = ", ".join(_link(by_slug[p]) if p in by_slug else p for p in _needs(module)) or "nothing"
        kind = lessons.MODALITY_NAMES.get(str(module.about.modality), "")
        rows.append(
            [step, _link(module), module.about.level, kind, first, f"{cost(module).minutes} min", weeks[module.slug]]
        )
    return table(["Step", "Module", "Level", "Kind", "Do first", "Time", "Week"], rows)


@dataclass(frozen=True)
class Week:
    """One week of the suggested semester: its new modules, or none (a crit or a project week)."""

    number: int
    kind: str  # one of KINDS
    modules: tuple[Module, ...] = ()
    level: str = ""  # the level a lesson week teaches or a crit week looks back on

    @property
    def minutes(self) -> int:
        return sum(cost(m).minutes for m in self.modules)


KINDS = {"lesson": "Lesson", "crit": "Crit", "project": "Project studio", "final": "Final crit"}


def _builds_on(earlier: list[Module], later: list[Module]) -> bool:
    """A module of `later` needs one of `earlier`: a pair worth teaching in one week."""
    slugs = {m.slug for m in earlier}
    return any(p in slugs for m in later for p in _needs(m))


def _merge_one(phases: list[list[list[Module]]]) -> bool:
    """Put two neighbouring weeks of one level together, or say there is nothing left to merge.

    A module and the one it builds on go first, then the pair with the fewest minutes.
    Week 1 stays alone: the class also walks through Start here that day.
    """
    best: tuple[tuple[bool, int, int], int, int] | None = None
    place = 0
    for p, weeks in enumerate(phases):
        for i in range(len(weeks) - 1):
            place += 1
            if p == 0 and i == 0:
                continue
            pair = weeks[i] + weeks[i + 1]
            score = (not _builds_on(weeks[i], weeks[i + 1]), sum(cost(m).minutes for m in pair), place)
            if best is None or score < best[0]:
                best = (score, p, i)
    if best is None:
        return False
    _, p, i = best
    phases[p][i : i + 2] = [phases[p][i] + phases[p][i + 1]]
    return True


def semester_plan(modules: list[Module], weeks: int = WEEKS) -> list[Week]:
    """The modules in `in_order`'s order over `weeks` weeks, a crit after each level, a project and a final crit.

    Each level is taught in a run of weeks, one module a week; where there are more modules
    than weeks, two neighbours of one level share a week. The weeks left over become project
    weeks. With more modules than can be merged, the plan runs past `weeks` rather than drop one.
    """
    phases: list[list[list[Module]]] = []
    levels: list[str] = []
    for module in in_order(modules):
        if not levels or levels[-1] != _level(module):
            levels.append(_level(module))
            phases.append([])
        phases[-1].append([module])
    lesson_weeks = weeks - len(phases) - 2  # a crit per level, at least one project week, the final crit
    while sum(len(p) for p in phases) > lesson_weeks and _merge_one(phases):
        pass
    plan: list[Week] = []
    for level, phase in zip(levels, phases, strict=True):
        for group in phase:
            plan.append(Week(len(plan) + 1, "lesson", tuple(group), level))
        plan.append(Week(len(plan) + 1, "crit", (), level))
    plan.append(Week(len(plan) + 1, "project"))
    while len(plan) < weeks - 1:
        plan.append(Week(len(plan) + 1, "project"))
    plan.append(Week(len(plan) + 1, "final"))
    return plan


def plan_table(modules: list[Module], weeks: int = WEEKS) -> str:
    """The semester week by week, from the same order as the order table on Choosing and assigning modules."""
    rows = []
    for week in semester_plan(modules, weeks):
        if week.kind == "lesson":
            what = " then ".join(_link(m) for m in week.modules) + ", then studio time on the exercises"
            minutes = f"{week.minutes} min"
        elif week.kind == "crit":
            what = (
                f"Crit of the {week.level} modules: each student shows a short series and the variations "
                f"behind it ([{week.level} rubric]({CRIT_PAGE}#{week.level}))"
            )
            minutes = "none"
        elif week.kind == "project":
            what = "Studio: students work on a project of their own with the modules so far; talk to each in turn"
            minutes = "none"
        else:
            what = f"Final crit: each student shows their project and its process ([rubrics]({CRIT_PAGE}))"
            minutes = "none"
        rows.append([week.number, KINDS[week.kind], what, week.level or "", minutes])
    return table(["Week", "Kind of week", "What happens", "Level", "Lesson minutes"], rows)


def crit_knobs(modules: list[Module], level: str) -> str:
    """The knobs worth asking about in a crit of one level's work, from each module's own list."""
    chosen = [m for m in in_order(modules) if _level(m) == level]
    if not chosen:
        return f"No module of this semester is marked {level} yet."
    rows = []
    for module in chosen:
        knobs = ", ".join(dict.fromkeys(f"`{k.input}` on *{k.node}*" for k in module.about.knobs)) or "none listed"
        rows.append([_link(module), knobs])
    return table(["Module", "Ask to see variations of"], rows)


def gpu_example(modules: list[Module], students: int = EXAMPLE_CLASS) -> str:
    """The worked example, in figures computed from the modules themselves."""
    ordered = in_order(modules)
    if not ordered:
        return ""
    first, longest = ordered[0], max(ordered, key=lambda m: cost(m).minutes)

    def sentence(module: Module) -> str:
        c = cost(module)
        total = students * c.gpu_minutes
        return (
            f"{_link(module)}, which takes {c.teaching} + {c.exercises} = {c.minutes} minutes, "
            f"so each student books {c.hours} hour{'s' * (c.hours != 1)}: "
            f"{students} × {c.hours} × 60 = {_number(total)} GPU minutes, or {_number(total / 60)} GPU hours."
        )

    lines = [f"A class of {students} starts with {sentence(first)}"]
    if longest is not first:
        lines.append(f"The longest module is {sentence(longest)}")
    first_year = [m for m in ordered if m.about.level == LEVELS[0]]
    if len(first_year) > 1:
        each = sum(cost(m).gpu_minutes for m in first_year)
        lines.append(
            f"All {len(first_year)} first-year modules, one session each, come to {_number(each)} GPU "
            f"minutes per student: {students} × {_number(each)} = {_number(students * each)} GPU minutes, "
            f"or {_number(students * each / 60)} GPU hours for the class."
        )
    return "\n\n".join(lines)


def sessions_table(profiles: list[Profile]) -> str:
    """What one session asks Slurm for on each cluster: the figures a reservation request needs."""
    rows = []
    for profile, gpus in gpu_profiles(profiles):
        partitions = ", ".join(f"`{p}`" for p in dict.fromkeys(g.partition for g in gpus))
        choices = ", ".join(g.title for g in gpus)
        rows.append(
            [
                profile.title,
                partitions,
                choices,
                f"{profile.cpus_per_gpu} CPU cores and {profile.memory_per_gpu_gb} GB of memory",
                plural(profile.default_hours, "hour"),
                plural(profile.max_hours, "hour"),
            ]
        )
    return table(
        ["Cluster", "Partition", "GPU choices", "Each session also gets", "Default session", "Longest session"], rows
    )


def shell_table(profiles: list[Profile]) -> str:
    """The line that makes `atelier` available in a cluster's shell, per installed cluster."""
    rows = [[p.title, f"`source {Layout.of(p.prefix).env_file}`"] for p in installed_profiles(profiles)]
    return table(["Cluster", "Type this first, each time you open the shell"], rows)


def semester_text(pin: Pin, modules: list[Module]) -> str:
    """What this version of the site describes, from the pin it was built with."""
    nodes = (
        f"{len(pin.custom_nodes)} custom node{'s' * (len(pin.custom_nodes) != 1)}, each pinned by commit"
        if pin.custom_nodes
        else "no custom nodes (every module uses ComfyUI's own nodes)"
    )
    return "\n".join(
        [
            f"This is the **{pin.docs_title}** version of the site; its version name, the part of its web "
            f"address after the site's own, is `{pin.docs_version}`. It describes {len(modules)} lesson modules, "
            f"ComfyUI {pin.comfyui_version} (commit `{pin.comfyui_commit[:12]}`), the ComfyUI web interface "
            f"{pin.frontend_version}, and {nodes}.",
            "",
            "A link to this page in this semester's version has this shape:",
            "",
            "```text",
            f"https://<the site's address>/{pin.docs_version}/teach/semesters/",
            "```",
        ]
    )


def terms_table(pin: Pin) -> str:
    """How a semester becomes a version name, for every term the pin accepts."""
    year = pin.semester.split("-")[0]
    rows = []
    for term in TERMS:
        pinned = replace(pin, semester=f"{year}-{term}")
        rows.append([term, f"`{pinned.semester}`", f"`{pinned.docs_version}`", pinned.docs_title])
    return table(["Term", "`semester` in the pin", "Version name", "In the version menu"], rows)


def site_modules(project: Project) -> list[Module]:
    """The lesson modules, or a build error naming the folder that has none."""
    if not project.modules:
        raise PluginError(f"no lesson modules in {project.workflows.resolve()}")
    return project.modules


# A broken source raises AtelierError; the plugin stops the build with its page, marker, file and field.
def tools_table(tools: list[Tool]) -> str:
    """Which of the semester's tools suits which assignment, from each tool's declaration."""
    return table(
        ["tool", "what a student does with it", "it suits"], [(t.title, t.summary, t.assignments) for t in tools]
    )


def lesson_weeks(modules: list[Module], weeks: int = WEEKS) -> list[tuple[Module, ...]]:
    """The modules of each lesson week of the suggested semester: what the class books sessions for."""
    return [week.modules for week in semester_plan(modules, weeks) if week.kind == "lesson"]


def class_plan_table(
    profiles: list[Profile],
    modules: list[Module],
    measured: list[classplan.Measured],
    students: int = EXAMPLE_CLASS,
    weeks: int = WEEKS,
) -> str:
    """The worked class: the first module of the semester on every GPU choice of every cluster students use."""
    ordered = in_order(modules)
    clusters = [p for p in profiles if not p.for_tests]
    if not ordered or not clusters:
        return ""
    first, semester = ordered[0], lesson_weeks(modules, weeks)
    rows = []
    for row in classplan.plan(clusters, first, students, measured):
        rate = row.profile.gpu_hour_cost
        rows.append(
            [
                row.profile.title,
                row.gpu.title,
                str(row.per_card),
                str(row.cards) if row.fits else "too small for it",
                classplan.hours_text(row.gpu_hours, rate) if row.fits else "—",
                classplan.hours_text(classplan.semester_hours(row, semester), rate),
                row.slower(),
            ]
        )
    head = [
        "Cluster",
        "GPU choice",
        "Sessions a card holds",
        f"Cards at once for {students}",
        "GPU-hours of the meeting",
        f"GPU-hours of the {weeks}-week semester",
        "A picture when the card is full",
    ]
    lines = [
        f"For a class of {students} starting with {_link(first)} ({cost(first).minutes} minutes, "
        f"{_number(cost(first).memory_gb)} GB), and for the lesson weeks of the [{weeks}-week semester](plan.md):",
        "",
        table(head, rows),
        "",
        "GPU-hours count a card's hours: a share is its part of a card, so four students on quarters of one "
        "card book one GPU-hour an hour between them. A semester week whose lessons need more memory than a "
        "share has is counted on whole cards.",
        "",
        _measured_sentence(measured)
        if any(r.per_gpu > 1 for p in clusters for r in p.gpus.values())
        else "No cluster offers shares of a GPU yet, so every session above holds a whole card. Research "
        "computing can add shares to a cluster's choices ([Shared GPUs](../runbook/shared-gpus.md)).",
    ]
    return "\n".join(lines)


def _measured_sentence(measured: list[classplan.Measured]) -> str:
    """Where the last column's figures come from: the recorded runs, or that there are none."""
    if not measured:
        return (
            "*Estimated* in the last column means no run of several sessions on one card has been recorded "
            "for that card: the figure assumes the card's time is split evenly between its sessions when all "
            "of them make pictures at once. Students who are reading or thinking leave their share of the "
            "card to the others, so a class usually waits less than this."
        )
    runs = "; ".join(f"{m.device} on {m.cluster} ({m.date[:10]}, {m.lesson})" for m in measured)
    return f"*Measured* figures come from these recorded runs of sessions side by side on one card: {runs}."


MARKERS: dict[str, Callable[[Project], str]] = {
    TOOLS_MARKER: lambda p: tools_table(p.tools),
    CLASS_PLAN_MARKER: lambda p: class_plan_table(
        p.profiles, site_modules(p), classplan.read_measured(p.root / classplan.SHARED_RECORDS)
    ),
    GPU_TIME_MARKER: lambda p: gpu_time_table(site_modules(p), p.profiles),
    GPU_EXAMPLE_MARKER: lambda p: gpu_example(site_modules(p)),
    SESSIONS_MARKER: lambda p: sessions_table(p.profiles),
    ORDER_MARKER: lambda p: order_table(site_modules(p)),
    PLAN_MARKER: lambda p: plan_table(site_modules(p)),
    **{marker: (lambda p, level=level: crit_knobs(site_modules(p), level)) for level, marker in CRIT_MARKERS.items()},
    SHELL_MARKER: lambda p: shell_table(p.profiles),
    SEMESTER_MARKER: lambda p: semester_text(p.pin, site_modules(p)),
    TERMS_MARKER: lambda p: terms_table(p.pin),
}
