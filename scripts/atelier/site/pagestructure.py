"""How the page linter reads a page's Markdown: which lines are text, where its admonitions and headings are.

Apart from the rules (pagelint.py) and the reading grade (readinglevel.py) because both read
a page this way: line by line, as MkDocs's Markdown lays it out, so that every finding can
name its line. Code, front matter and HTML comments are marked as not text of the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
ADMONITION = re.compile(
    r'^(\s*)(!!!|\?\?\?\+?)\s+([\w-]+)(?:\s+[\w-]+)*(?:\s+"([^"]*)")?\s*$'
)  # !!! tip inline end "x"
ATX = re.compile(r"^(#{1,6})(?!#)\s*(.*?)\s*#*\s*$")
SETEXT = re.compile(r"^(={2,}|-{2,})\s*$")
REF_LINK = re.compile(r"(?<![!\]])\[((?:[^\[\]]|\[[^\]]*\])+)\]\[([^\[\]]*)\]")
TAG = re.compile(r"<[^>]+>")
LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s+")
LINE_PREFIX = re.compile(r"^(?:>\s*|:\s{1,4})+")  # blockquote, definition
NOT_PROSE = re.compile(
    r"^(?:\||:?-{3,}\s*(?:\||$)|:::|:\w+:|--8<--|\*\[[^\]]*\]:|\[[^\]]+\]:\s*\S+\s*$|\{[^}]*\}$|(?:[-*_]\s*){3,}$)"
)


@dataclass(frozen=True)
class Line:
    number: int
    text: str  # tabs expanded
    skip: bool  # code, front matter or an HTML comment: not text of the page

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip(" "))

    @property
    def blank(self) -> bool:
        return not self.text.strip()


@dataclass(frozen=True)
class Admonition:
    """An admonition (`!!!`) or folded block (`???`): its first line and its last body line."""

    start: int  # index into the line list
    end: int
    indent: int
    marker: str
    kind: str
    title: str


def read_lines(markdown: str) -> list[Line]:
    """The page's lines, with code, front matter and comments marked as not text."""
    markdown = COMMENT.sub(lambda m: "\n" * m.group().count("\n"), markdown)
    raw = [text.expandtabs(4) for text in markdown.splitlines()]
    skip = [False] * len(raw)
    if raw and raw[0].strip() == "---":
        for index in range(1, len(raw)):
            if raw[index].strip() in {"---", "..."}:
                skip[: index + 1] = [True] * (index + 1)
                break
    fence: str | None = None
    for index, text in enumerate(raw):
        if skip[index]:
            continue
        match = FENCE.match(text)
        if fence is None and match:
            fence, skip[index] = match.group(1), True
        elif fence is not None:
            skip[index] = True
            if (
                match
                and match.group(1)[0] == fence[0]
                and len(match.group(1)) >= len(fence)
                and not text.strip()[len(match.group(1)) :].strip()
            ):
                fence = None
    return [Line(number, text, skip[number - 1]) for number, text in enumerate(raw, start=1)]


def find_admonitions(lines: list[Line]) -> list[Admonition]:
    """Every admonition, with the extent of its indented body."""
    admonitions = []
    for start, line in enumerate(lines):
        match = ADMONITION.match(line.text)
        if line.skip or not match:
            continue
        indent, end = line.indent, start
        for index in range(start + 1, len(lines)):
            if lines[index].blank:
                continue
            if lines[index].indent < indent + 4:
                break
            end = index
        admonitions.append(Admonition(start, end, indent, match.group(2), match.group(3), match.group(4) or ""))
    return admonitions


def _body_indent(index: int, admonitions: list[Admonition]) -> int:
    """The indent at which text on line `index` starts a block: 4 more for each admonition around it."""
    return max((a.indent + 4 for a in admonitions if a.start < index <= a.end), default=0)


@dataclass(frozen=True)
class Heading:
    line: int
    level: int
    text: str


def find_headings(lines: list[Line], admonitions: list[Admonition]) -> list[Heading]:
    """ATX (`## x`) and setext (`x` over `---`) headings, outside code, in order."""
    found = []
    for index, line in enumerate(lines):
        if line.skip or line.blank or line.indent != _body_indent(index, admonitions):
            continue
        text = line.text.strip()
        atx = ATX.match(text)
        if atx:
            found.append(Heading(line.number, len(atx.group(1)), atx.group(2)))
            continue
        setext = SETEXT.match(text)
        if setext and index > 0:
            above = lines[index - 1]
            words = above.text.strip()
            if (
                not above.skip
                and not above.blank
                and above.indent == line.indent
                and not ATX.match(words)
                and not ADMONITION.match(above.text)
                and not NOT_PROSE.match(words)
                and not LIST_ITEM.match(words)
            ):
                found.append(Heading(above.number, 1 if setext.group(1)[0] == "=" else 2, words))
    return found
