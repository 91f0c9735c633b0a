"""A class's wall: every student's work, by student and by lesson knob, for an instructor's crit.

The same comparison as compare.py over a course folder, one folder or Box zip per student:
a row per student, a column per lesson and value of the lesson's knob. The students'
folders are only read: their ledgers are kept in the wall's own folder, and zips are
unpacked there.

Privacy: a wall is made to be shown to the class, so a student is named by the initials of
their folder's name ("ana-lopez" is "A.L."), and by that name only when their folder is listed
in the course folder's show-names.txt, which the instructor keeps for the students who agreed.
`names="full"` names everyone, for the instructor's own review. One rule (`shown_names`) names
them on the wall, in the workbook and in the CSV alike.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atelier.keep import ledger
from atelier.keep.backup import OUTPUTS
from atelier.keep.compare import (
    AXES_FIRST,
    CSV_FILE,
    STYLE,
    WORKBOOK,
    Item,
    Table,
    build,
    figure_html,
    knob,
    label,
    ordered_values,
    page_html,
    thumbnails,
    value,
    write_csv,
    write_workbook,
)
from atelier.keep.outputs import OK
from atelier.lessons.meta import Knob
from atelier.lessons.modules import Module, ordered
from atelier.messages import AtelierError, Finding, plural

WALL = "class-wall.html"
LEDGERS, UNPACKED = "ledgers", "unpacked"  # in a wall's folder: the students' ledgers, their zips unpacked
SHOW_NAMES = "show-names.txt"  # in the course folder: the students (by folder name) who agreed to be named
NAMES = ("initials", "full")  # initials but for those listed in SHOW_NAMES (the default), or everyone by name


@dataclass
class Student:
    """One student's folder (or Box zip) in the course folder, and what was found in it."""

    name: str  # the folder's name, or the zip's without .zip: how the instructor filed their work
    source: Path  # that folder or zip
    shown_as: str = ""  # what the wall calls them: initials, or their name if they agreed (shown_names)
    items: list[Item] = field(default_factory=list)
    problem: Finding | None = None  # set when nothing of theirs can be shown

    @property
    def shown(self) -> list[Item]:
        return [i for i in self.items if i.output.status == OK]


@dataclass(frozen=True)
class Column:
    """A column of the wall: a lesson, and one value of the knob that varies in it."""

    lesson: str | None  # the module's slug; None: work not made from a lesson
    title: str  # the lesson's title
    knob: str | None = None  # None: one column for the whole lesson
    value: Any = None

    def holds(self, item: Item) -> bool:
        return value(item.output, "module") == self.lesson and (
            self.knob is None or repr(value(item.output, self.knob)) == repr(self.value)
        )


@dataclass
class Wall:
    table: Table
    students: list[Student]
    columns: list[Column]
    written: list[Path]

    @property
    def warnings(self) -> list[Finding]:
        return [s.problem for s in self.students if s.problem]


def student_sources(course: Path, out: Path) -> list[tuple[str, Path]]:
    """(name, folder or zip) per student: each folder in the course folder, and each zip not beside a folder
    of its name."""
    if not course.is_dir():
        raise AtelierError("class-folder-missing", folder=course)
    mine = out.resolve()
    entries = [e for e in course.iterdir() if not e.name.startswith(".") and e.resolve() != mine]
    found = {e.name: e for e in entries if e.is_dir()}
    for archive in entries:
        if archive.is_file() and archive.suffix.lower() == ".zip":
            found.setdefault(archive.stem, archive)
    if not found:
        raise AtelierError("class-no-students", folder=course)
    return sorted(found.items(), key=lambda pair: (pair[0].casefold(), pair[0]))


def initials(name: str) -> str:
    """ "Ana Lopez", "ana_lopez" and "AnaLopez" are "A.L."; a name with no letters is "Student"."""
    words = re.findall(r"[^\W\d_]+", re.sub(r"(?<=[a-z])(?=[A-Z])", " ", re.sub(r"['’]", "", name)))
    return "".join(f"{word[0].upper()}." for word in words) or "Student"


def opted_in(course: Path) -> set[str]:
    """The folder names listed in the course folder's show-names.txt, one a line ("#" starts a note)."""
    listed = course / SHOW_NAMES
    if not listed.is_file():
        return set()
    lines = listed.read_text(encoding="utf-8", errors="replace").splitlines()
    names = {line.split("#", 1)[0].strip().removesuffix(".zip").casefold() for line in lines}
    return names - {""}


def shown_names(names: list[str], listed: set[str], how: str = NAMES[0]) -> dict[str, str]:
    """What the wall calls each student (by folder name): their name if listed (or `how` is "full"), else
    their initials; initials that students share are numbered, in the wall's order, so rows stay apart."""
    called = {n: n if how == "full" or n.casefold() in listed else initials(n) for n in names}
    named = {n for n in names if called[n] == n}
    shared: dict[str, list[str]] = {}
    for name in names:
        if name not in named:
            shared.setdefault(called[name], []).append(name)
    for short, whose in shared.items():
        if len(whose) > 1:
            called.update({name: f"{short} ({n})" for n, name in enumerate(whose, 1)})
    return called


def outputs_root(folder: Path) -> Path:
    """Where a student's outputs are: Box's outputs folder when the download holds one (at the top, or in
    Atelier/), since beside it replaced/ holds older versions and comfyui/ saved workflows; else the folder."""
    for candidate in (folder / OUTPUTS, *sorted(child / OUTPUTS for child in folder.iterdir() if child.is_dir())):
        if candidate.is_dir():
            return candidate
    return folder


def _unpack(archive: Path, target: Path) -> Path:
    """A Box zip unpacked into the wall's own folder, once: again only when the zip changed."""
    stat = archive.stat()
    stamp, mark = target / ".unpacked-from", f"{archive.resolve()}:{stat.st_size}:{stat.st_mtime}"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == mark:
        return target
    if target.exists():
        shutil.rmtree(target)  # an older unpacking of ours, never the student's zip
    target.mkdir(parents=True)
    with zipfile.ZipFile(archive) as unzipped:
        for member in unzipped.infolist():
            made = unzipped.extract(member, target)  # a name that climbs out (.., /) is kept inside by zipfile
            if not member.is_dir():  # the file's own time, so the ledger knows it again in the next zip
                when = time.mktime((*member.date_time, 0, 0, -1))
                os.utime(made, (when, when))
    stamp.write_text(mark, encoding="utf-8")
    return target


def _nothing(items: list[Item]) -> str:
    if not items:
        return "the folder holds no files"
    counts = ", ".join(f"{n} {status}" for status, n in sorted(ledger.counts([i.output for i in items]).items()))
    return f"{plural(len(items), 'file')}, none with ComfyUI's settings ({counts})"


def gather_class(course: Path, out: Path, on_scan: Any = None, names: str = NAMES[0]) -> list[Student]:
    """Every student's outputs, read without writing into their folders (ledgers and unpacked zips go in `out`)."""
    students: list[Student] = []
    (out / LEDGERS).mkdir(parents=True, exist_ok=True)
    sources = student_sources(course, out)
    called = shown_names([name for name, _ in sources], opted_in(course), names)
    for name, source in sources:
        student = Student(name, source, called[name])
        students.append(student)
        try:
            folder = _unpack(source, out / UNPACKED / name) if source.is_file() else source
        except (zipfile.BadZipFile, OSError) as err:
            student.problem = Finding(
                "class-student-empty",
                {
                    "student": name,
                    "folder": source,
                    "found": f"the zip cannot be unpacked ({type(err).__name__}: a download cut short, perhaps)",
                },
                warning=True,
            )
            continue
        index = out / LEDGERS / f"{hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:16]}.sqlite"
        try:
            root = outputs_root(folder)
            ledger.scan(root, on_scan, index=index)
        except OSError as err:  # a group folder its student keeps to themselves
            student.problem = Finding(
                "class-student-empty",
                {"student": name, "folder": source, "found": f"the folder cannot be read ({type(err).__name__})"},
                warning=True,
            )
            continue
        student.items = [Item(root / o.file, o, student=student.shown_as) for o in ledger.rows(root, index)]
        if not student.shown:
            student.problem = Finding(
                "class-student-empty",
                {"student": name, "folder": source, "found": _nothing(student.items)},
                warning=True,
            )
    return students


def knob_key(table: Table, lesson_knob: Knob) -> str | None:
    """The comparison's key for a module.yaml knob ("KSampler" + "seed" is "seed"); None when no output has it."""
    param = f"{lesson_knob.node}.{lesson_knob.input}"
    if param in table.aliases:
        return table.aliases[param]
    keys = sorted({k for i in table.items for k in i.output.params})
    if param in keys:
        return param
    repeated = f"{lesson_knob.node} #"  # a title that repeats gets its node id: "KSampler #3.seed"
    return next((k for k in keys if k.startswith(repeated) and k.endswith(f".{lesson_knob.input}")), None)


def lesson_knob(table: Table, items: list[Item], module: Module | None, wanted: str | None) -> str | None:
    """The knob that splits a lesson into columns: `wanted` (--by) where it differs in the lesson; else, of the
    lesson's module.yaml knobs that differ (for a lesson not in this semester, of all settings that differ), the one
    whose values most students have in common, so that columns are shared (a prompt each student wrote would make a
    column per student); then the one with fewer values; then the first listed."""

    def values(key: str) -> set[str]:
        return {repr(value(i.output, key)) for i in items}

    if wanted and wanted != "module" and len(values(wanted)) > 1:
        return wanted
    if module:
        candidates = [knob_key(table, k) for k in module.about.knobs]
    else:
        candidates = [k for k in AXES_FIRST if k != "module"] + sorted(table.varying - set(AXES_FIRST))
    keys = [k for k in dict.fromkeys(candidates) if k and k != "module" and len(values(k)) > 1]

    def shared(key: str) -> int:
        whose: dict[str, set[str]] = {}
        for item in items:
            whose.setdefault(repr(value(item.output, key)), set()).add(item.student)
        return sum(1 for students in whose.values() if len(students) > 1)

    return min(keys, key=lambda k: (-shared(k), len(values(k)), keys.index(k)), default=None)


def wall_columns(table: Table, lessons: list[Module], wanted: str | None = None) -> list[Column]:
    """Lessons in the lesson list's order (others after them, work not from a lesson last), each split by its knob."""
    modules = {m.slug: m for m in lessons}
    order = [m.slug for m in ordered(lessons)]
    groups: dict[str | None, list[Item]] = {}
    for item in table.items:
        groups.setdefault(value(item.output, "module"), []).append(item)
    columns: list[Column] = []
    for slug in sorted(groups, key=lambda s: (s is None, order.index(s) if s in order else len(order), s or "")):
        here = groups[slug]
        title = modules[slug].title if slug in modules else slug or "Not from a lesson"
        key = lesson_knob(table, here, modules.get(slug), wanted) if slug else None
        if key is None:
            columns.append(Column(slug, title))
            continue
        values = ordered_values(list({repr(value(i.output, key)): value(i.output, key) for i in here}.values()))
        columns += [Column(slug, title, key, v) for v in values]
    return columns


WALL_STYLE = (
    STYLE
    + """
table.wall tbody th, table.wall thead th[rowspan] { position: sticky; left: 0; z-index: 1; min-width: 7rem;
  box-shadow: inset -1px 0 #bbb; }  /* the names stay in view across a wide wall; sticky cells lose their border */
table.wall thead th { font-size: 15px; }
table.wall th.knob { font-weight: 600; max-width: 260px; }
table.wall td { min-width: 11rem; }  /* a wide wall scrolls across rather than shrinking the pictures */
table.wall td.nothing { color: #444; font-style: italic; }
"""
)
HEADER_TEXT = 80  # characters of a knob's value in a column's heading (a prompt can be long); the rest in its title


def _heading(column: Column) -> str:
    if column.knob is None:
        return '<th scope="col" class="knob">Every output</th>'
    text = f"{label(column.knob)}: {'not set' if column.value is None else column.value}"
    short = text if len(text) <= HEADER_TEXT else text[: HEADER_TEXT - 1].rstrip() + "…"
    hover = f' title="{html.escape(text)}"' if short != text else ""
    return f'<th scope="col" class="knob"{hover}>{html.escape(short)}</th>'


def write_wall(wall: Wall, path: Path, title: str) -> Path:
    """The wall: a row per student (those with nothing to show too), a column per lesson and knob value."""
    base, table, columns = path.parent, wall.table, wall.columns
    spans: list[list[Any]] = []  # [lesson, its title, how many columns]
    for column in columns:
        if spans and spans[-1][0] == column.lesson:
            spans[-1][2] += 1
        else:
            spans.append([column.lesson, column.title, 1])
    groups = '<colgroup span="1"></colgroup>' + "".join(f'<colgroup span="{n}"></colgroup>' for _, _, n in spans)
    lessons = "".join(f'<th scope="colgroup" colspan="{n}">{html.escape(name)}</th>' for _, name, n in spans)
    knobs = "".join(_heading(c) for c in columns)
    # Under each picture, the settings that differ within its lesson (the lesson and its knob are in the headings).
    quiet: dict[str | None, set[str | None]] = {}
    for lesson, _, _ in spans:
        here = [i for i in table.items if value(i.output, "module") == lesson]
        quiet[lesson] = {"module"} | {k for k in table.varying if len({repr(value(i.output, k)) for i in here}) < 2}
    rows = []
    for student in wall.students:
        name = f'<th scope="row">{html.escape(student.shown_as)}</th>'
        if student.problem:
            found = html.escape(str(student.problem.values["found"]))
            rows.append(
                f'<tr class="student">{name}<td class="nothing" colspan="{len(columns)}">'
                f"Nothing to show: {found}.</td></tr>"
            )
            continue
        cells = []
        for column in columns:
            here = [i for i in student.shown if column.holds(i)]
            hidden = quiet[column.lesson] | {column.knob}
            cells.append("<td>" + "".join(figure_html(i, table, hidden, base) for i in here) + "</td>")
        rows.append(f'<tr class="student">{name}{"".join(cells)}</tr>')
    shown = sum(1 for s in wall.students if not s.problem)
    taught = sum(1 for lesson, _, _ in spans if lesson)
    body = f"""<p>{plural(len(wall.students), "student")} ({shown} with work to show), \
{plural(len(table.items), "output")} from {plural(taught, "lesson")}. A row per student; across, each lesson split \
by the value of its knob. Click a picture to open it full size.</p>
<table class="wall">{groups}<thead><tr><th scope="col" rowspan="2">Student</th>{lessons}</tr><tr>{knobs}</tr></thead>
<tbody>{"".join(rows)}</tbody></table>"""
    # A file not compared is named within its student's folder: its full path would give the folder's name away.
    listed = replace(table, skipped=[replace(i, path=Path(i.output.file)) for i in table.skipped])
    path.write_text(page_html(listed, title, body, WALL_STYLE), encoding="utf-8")
    return path


def wall(
    course: Path,
    out: Path,
    by: str | None = None,
    lessons: list[Module] | None = None,
    on_scan: Any = None,
    names: str = NAMES[0],
) -> Wall:
    """Write a class's workbook, CSV and wall into `out`; the students' folders are only read. `names`: one of
    NAMES, how students are named (initials, but for those listed in the course folder's show-names.txt)."""
    out.mkdir(parents=True, exist_ok=True)
    students = gather_class(course, out, on_scan, names)
    if not any(s.shown for s in students):
        raise AtelierError("compare-nothing", paths=course)
    table = build([i for s in students for i in s.items])
    wanted = knob(table, by) if by else None
    found = Wall(table, students, wall_columns(table, lessons or [], wanted), [])
    thumbnails(table.items, out / "thumbs")
    title = f"Class wall: {course.resolve().name}"
    found.written = [
        write_workbook(table, out / WORKBOOK),
        write_csv(table, out / CSV_FILE),
        write_wall(found, out / WALL, title),
    ]
    return found
