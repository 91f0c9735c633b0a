"""The page linter: what a reader needs from every page, checked before it is published.

The site build (sitechecks) proves links resolve and nothing loads from another host;
this proves the pages teach well, for pages typed into `docs/` and for the lesson pages
made at build time from `workflows/<slug>/`:

* Tutorial pages (Start here, except its index) and lesson pages open with what the
  reader will be able to do and close with what to remember, in the same two admonitions the
  generated lesson pages use: `!!! success "Objectives"` and `!!! note "Key points"`,
  each holding a list.
* Every exercise (`!!! question "Exercise ..."`) has its answer folded inside it:
  `??? success "Solution"`.
* Every image has alt text that describes it (not empty, not its file name).
* Headings go in order: one h1, and no level skipped going down.
* Link text says where the link goes ("here", "click here", "more" do not).
* Start here pages read at US grade 8 or below (Flesch-Kincaid grade, on the prose only).

Every function returns findings naming the file and line; none prints. The rules read a
page through pagestructure.py; readinglevel.py measures its reading grade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from atelier.site.checks import HTML_ATTR, HTML_IMG, INLINE_CODE, MD_LINK
from atelier.site.pagestructure import (
    FENCE,
    LIST_ITEM,
    REF_LINK,
    TAG,
    Admonition,
    Line,
    find_admonitions,
    find_headings,
    read_lines,
)
from atelier.site.readinglevel import GRADE_LIMIT, Grade, reading_grade

START = "docs/start/"
VAGUE_LINK_TEXT = frozenset({"click here", "here", "this link", "link", "more", "read more"})
OBJECTIVES = ("!!!", "success", "Objectives")
KEY_POINTS = ("!!!", "note", "Key points")
HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    path: str
    line: int | None
    problem: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.problem}"


@dataclass(frozen=True)
class Page:
    """One page as MkDocs reads it; `source` names where a generated page is made from."""

    path: str  # as messages show it, e.g. "docs/start/tour.md" or "lessons/txt2img-basics.md"
    markdown: str
    tutorial: bool = False  # needs Objectives and Key points
    graded: bool = False  # must read at GRADE_LIMIT or below
    no_terminal: bool = False  # a numbered Start here page: a student who never opened a terminal follows it
    source: str | None = None  # e.g. "workflows/txt2img-basics/module.yaml"


@dataclass(frozen=True)
class Report:
    findings: list[Problem]
    grades: list[Grade]


# ---- rules -----------------------------------------------------------------------------


def check_headings(page: Page) -> list[Problem]:
    """One h1, first; going down, no level skipped (an h2 is followed by an h3, not an h4)."""
    lines = read_lines(page.markdown)
    headings = find_headings(lines, find_admonitions(lines))
    if not headings or all(h.level != 1 for h in headings):
        return [Problem(page.path, 1, "no h1 title: start the page with '# Title'")]
    findings = []
    if headings[0].level != 1:
        first = headings[0]
        findings.append(
            Problem(
                page.path,
                first.line,
                f'heading "{first.text}" (h{first.level}) comes before the page\'s h1 title: the title comes first',
            )
        )
    h1s = [h for h in headings if h.level == 1]
    for extra in h1s[1:]:
        findings.append(
            Problem(page.path, extra.line, f'a second h1 "{extra.text}": a page has one title; make this an h2')
        )
    for before, heading in pairwise(headings):
        if heading.level > before.level + 1:
            findings.append(
                Problem(
                    page.path,
                    heading.line,
                    f'heading "{heading.text}" is an h{heading.level} under an h{before.level}: '
                    f"make it an h{before.level + 1} (no level skipped going down)",
                )
            )
    return findings


def _file_name(src: str) -> tuple[str, str]:
    """(name, stem) of the file an image URL points at, lower-cased."""
    name = PurePosixPath(unquote(urlsplit(src.strip()).path)).name.lower()
    return name, name.rsplit(".", 1)[0] if "." in name else name


def _words(text: str) -> str:
    return " ".join(re.split(r"[\s_\-.]+", text.lower())).strip()


def _alt_problem(alt: str, src: str) -> str | None:
    alt = alt.strip()
    if not alt:
        return f"image '{src}' has no alt text: describe what it shows"
    name, stem = _file_name(src)
    if name and (alt.lower() in {name, stem} or _words(alt) == _words(stem)):
        return f"image '{src}' has its file name as alt text: describe what it shows"
    return None


def _images_and_links(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The (alt, src) of every image and the text of every link on one line of markdown or HTML."""
    images: list[tuple[str, str]] = []
    links: list[str] = []

    def scan(chunk: str) -> None:
        for match in MD_LINK.finditer(chunk):
            bang, inner, target = match.groups()
            if bang:
                images.append((inner, target))
            else:
                links.append(inner)
                scan(inner)  # a linked image: [![alt](img.png)](page.md)
        for match in REF_LINK.finditer(chunk):
            links.append(match.group(1))
            scan(match.group(1))

    text = INLINE_CODE.sub("", text)
    scan(text)
    for tag in HTML_IMG.findall(text):
        attrs = {k.lower(): v[1:-1] for k, v in HTML_ATTR.findall(tag)}
        images.append((attrs.get("alt", ""), attrs.get("src", "")))
    links += HTML_LINK.findall(text)
    return images, links


def check_images(page: Page) -> list[Problem]:
    """Alt text is what a screen reader says instead of the picture, so it must describe it."""
    findings = []
    for line in read_lines(page.markdown):
        if line.skip:
            continue
        for alt, src in _images_and_links(line.text)[0]:
            problem = _alt_problem(alt, src)
            if problem:
                findings.append(Problem(page.path, line.number, problem))
    return findings


def _link_words(text: str) -> str:
    """Link text as a reader hears it: images by their alt text, no markup, no end punctuation."""
    text = MD_LINK.sub(lambda m: m.group(2), text)
    text = TAG.sub(" ", text).replace("*", "").replace("_", " ")
    return " ".join(text.split()).strip(" .,:;!?…\"'()").lower()


def check_link_text(page: Page) -> list[Problem]:
    """Screen-reader users list a page's links out of context: "here" tells them nothing."""
    findings = []
    for line in read_lines(page.markdown):
        if line.skip:
            continue
        for text in _images_and_links(line.text)[1]:
            words = _link_words(text)
            if words in VAGUE_LINK_TEXT:
                findings.append(
                    Problem(
                        page.path,
                        line.number,
                        f'link text "{words}" does not say where it goes: name the page or what is there',
                    )
                )
    return findings


def _admonition_text(lines: list[Line], admonition: Admonition) -> str:
    """The words in an admonition's body; lesson_page writes "None" for a field the module lacks."""
    words = " ".join(
        LIST_ITEM.sub("", line.text.strip())
        for line in lines[admonition.start + 1 : admonition.end + 1]
        if not line.skip
    )
    return "" if words.strip() in {"", "None"} else words.strip()


def check_exercises(page: Page) -> list[Problem]:
    """Every exercise carries its answer, folded so students try first."""
    lines = read_lines(page.markdown)
    admonitions = find_admonitions(lines)
    findings = []
    for admonition in admonitions:
        if admonition.kind != "question" or not admonition.title.lower().startswith("exercise"):
            continue
        number = lines[admonition.start].number
        inside = [
            b
            for b in admonitions
            if admonition.start < b.start <= admonition.end and b.title.strip().lower() == "solution"
        ]
        where = f" (exercises in {page.source})" if page.source else ""
        if not inside:
            findings.append(
                Problem(
                    page.path,
                    number,
                    f'"{admonition.title}" has no solution: nest ??? success "Solution" inside it{where}',
                )
            )
            continue
        solution = inside[0]
        if (solution.marker, solution.kind) != ("???", "success"):
            findings.append(
                Problem(
                    page.path,
                    lines[solution.start].number,
                    f'the solution of "{admonition.title}" is written {solution.marker} {solution.kind}: '
                    'write ??? success "Solution" so it stays folded until opened',
                )
            )
        elif not _admonition_text(lines, solution):
            findings.append(
                Problem(
                    page.path, lines[solution.start].number, f'the solution of "{admonition.title}" is empty{where}'
                )
            )
    return findings


def check_summary(page: Page) -> list[Problem]:
    """A tutorial says up front what the reader will be able to do, and ends with what to remember."""
    if not page.tutorial:
        return []
    lines = read_lines(page.markdown)
    admonitions = find_admonitions(lines)
    findings = []
    wanted_admonitions = (
        (OBJECTIVES, "objectives", "under the title, listing what the reader will be able to do"),
        (KEY_POINTS, "key_points", "at the end, listing what to remember"),
    )
    for (marker, kind, title), field, what in wanted_admonitions:
        wanted = f'{marker} {kind} "{title}"'
        found = [b for b in admonitions if b.title.strip().lower() == title.lower()]
        if not found:
            fix = f"fill {field} in {page.source}" if page.source else f"add {wanted} {what}"
            findings.append(Problem(page.path, 1, f'no "{title}" admonition: {fix}'))
            continue
        admonition = found[0]
        if (admonition.marker, admonition.kind) != (marker, kind):
            findings.append(
                Problem(
                    page.path,
                    lines[admonition.start].number,
                    f'the "{title}" admonition is written {admonition.marker} {admonition.kind}: write {wanted}',
                )
            )
        elif not _admonition_text(lines, admonition):
            fix = f"fill {field} in {page.source}" if page.source else "list them in it"
            findings.append(
                Problem(page.path, lines[admonition.start].number, f'the "{title}" admonition is empty: {fix}')
            )
    return findings


def check_reading(grade: Grade) -> list[Problem]:
    if grade.passes:
        return []
    hardest = (
        f"; the hardest paragraph starts here (grade {grade.hardest_grade})" if grade.hardest_line is not None else ""
    )
    return [
        Problem(
            grade.path,
            grade.hardest_line or 1,
            f"reads at grade {grade.grade} (Flesch-Kincaid), above {GRADE_LIMIT:g}{hardest}: "
            "shorter sentences and everyday words bring it down",
        )
    ]


SHELLS = frozenset(
    {
        "bash",
        "sh",
        "shell",
        "console",
        "zsh",
        "fish",
        "powershell",
        "ps1",
        "pwsh",
        "cmd",
        "bat",
        "bash-session",
        "sh-session",
        "shell-session",
        "doscon",
        "batch",
    }
)
COMMAND = re.compile(
    r"`((?:atelier|rclone|ssh|scp|sbatch|squeue|scancel|srun|module|source|cd|ls|cp|mv|chmod)"
    r" [^`]+)`"
)  # a command word and what follows it: `atelier` alone is a folder
NUMBERED_START = re.compile(r"^\s*-\s+\d+\.\s[^:]*:\s*(start/[\w-]+\.md)\s*$", re.MULTILINE)


def check_no_terminal(page: Page) -> list[Problem]:
    """The numbered Start here pages are the student's path from account to a backed-up picture,
    which the university promised needs no terminal: no command to type, anywhere on them."""
    if not page.no_terminal:
        return []
    findings = []
    for line in read_lines(page.markdown):
        fence = FENCE.match(line.text)
        language = line.text.strip().lstrip("`~").strip().split(" ")[0].lower() if fence else ""
        if language in SHELLS:
            findings.append(
                Problem(
                    page.path,
                    line.number,
                    f"a {language} block asks the student for a terminal: say what to press in the browser instead",
                )
            )
        elif line.text.lstrip().startswith("::: mkdocs-click"):
            findings.append(
                Problem(
                    page.path,
                    line.number,
                    "a command's reference: it belongs in the Reference or "
                    "the Runbook, not on a student's numbered page",
                )
            )
        elif not line.skip:
            for command in COMMAND.findall(line.text):
                findings.append(
                    Problem(
                        page.path,
                        line.number,
                        f"`{command}` is a terminal command: say what to press in the browser instead",
                    )
                )
    return findings


RULES = (check_summary, check_exercises, check_images, check_headings, check_link_text, check_no_terminal)


def lint(pages: list[Page]) -> Report:
    findings: list[Problem] = []
    grades: list[Grade] = []
    for page in pages:
        for rule in RULES:
            findings += rule(page)
        if page.graded:
            grade = reading_grade(page.path, page.markdown)
            grades.append(grade)
            findings += check_reading(grade)
    return Report(findings, grades)


# ---- the site's pages ------------------------------------------------------------------


def docs_pages(root: Path) -> list[Page]:
    """Every page typed into docs/; Start here pages are graded, and all but its index are tutorials.

    The numbered ones in the site's navigation (mkdocs.yml: `- 1. What the cluster is: start/cluster.md`)
    are the student's path, and must not ask for a terminal."""
    site = root / "mkdocs.yml"
    navigation = site.read_text(encoding="utf-8") if site.is_file() else ""
    numbered = {f"docs/{uri}" for uri in NUMBERED_START.findall(navigation)}
    pages = []
    for path in sorted((root / "docs").rglob("*.md")):
        name = path.relative_to(root).as_posix()
        start = name.startswith(START)
        pages.append(
            Page(
                name,
                path.read_text(encoding="utf-8"),
                tutorial=start and not name.endswith("/index.md"),
                graded=start,
                no_terminal=name in numbered,
            )
        )
    return pages


def generated_terminal_steps(pages: list[Page], root: Path) -> list[Problem]:
    """The no-terminal rule on what the markers of the numbered Start here pages make (a table of
    commands or messages counts as much as typed text), each finding at its marker's line."""
    from atelier.project import Project
    from atelier.site import plugin as sitepages

    numbered = [p for p in pages if p.no_terminal]
    project = Project(root) if numbered else None
    findings = []
    for page in numbered:
        for number, line in enumerate(page.markdown.splitlines(), start=1):
            marker = line.strip()
            if marker in sitepages.MARKERS:
                made = Page(page.path, sitepages.expand_markers(marker, project, page.path), no_terminal=True)
                findings += [
                    Problem(page.path, number, f"what {marker} makes: {f.problem}") for f in check_no_terminal(made)
                ]
    return findings


def generated_pages(root: Path) -> list[Page]:
    """The pages the site build makes, made the way sitepages makes them: lessons, glossary, messages, status."""
    from atelier.project import Project
    from atelier.site import plugin as sitepages

    project = Project(root)
    made, _ = sitepages.made_pages(project, project.docs)
    lesson_sources = {f"lessons/{m.slug}.md": m.meta_path.relative_to(root).as_posix() for m in project.modules}
    sources = {
        "reference/troubleshooting.md": "scripts/atelier/messages.py",
        sitepages.STATUS_PAGE: "docs/status/",
        sitepages.GLOSSARY_PAGE: f"docs/{sitepages.GLOSSARY}",
        **lesson_sources,
    }
    return [Page(uri, markdown, tutorial=uri in lesson_sources, source=sources[uri]) for uri, markdown in made.items()]


def lint_site(root: Path) -> Report:
    """Lint every page of the site under `root`; a lesson that cannot be made is a finding."""
    from atelier.messages import AtelierError

    try:
        generated = generated_pages(root)
    except AtelierError as err:
        return Report([Problem("workflows", None, f"the lesson pages cannot be made: {err}")], [])
    typed = docs_pages(root)
    report = lint(typed + generated)
    return Report(report.findings + generated_terminal_steps(typed, root), report.grades)
