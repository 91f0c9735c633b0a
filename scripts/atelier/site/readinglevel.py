"""The reading grade of a page: Flesch-Kincaid on its prose only, and where its hardest paragraph starts.

Apart from the rules (pagelint.py) because it measures rather than checks: it turns a page's
Markdown into the sentences a reader reads (no code, URLs, images or markup) and grades them
with textstat. pagelint turns a grade above GRADE_LIMIT into a finding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from atelier.site.checks import INLINE_CODE, MD_LINK
from atelier.site.pagestructure import (
    LINE_PREFIX,
    LIST_ITEM,
    NOT_PROSE,
    REF_LINK,
    SETEXT,
    TAG,
    find_admonitions,
    find_headings,
    read_lines,
)

GRADE_LIMIT = 8.0
MIN_PARAGRAPH_WORDS = 10  # a shorter paragraph's grade says little about how hard it reads


@dataclass(frozen=True)
class Grade:
    path: str
    grade: float  # Flesch-Kincaid US school grade of the page's prose
    words: int
    sentences: int
    hardest_line: int | None  # where the hardest paragraph starts
    hardest_grade: float | None

    @property
    def passes(self) -> bool:
        return self.grade <= GRADE_LIMIT


def _plain(text: str) -> str:
    """One line of markdown as the words a reader reads: no code, URLs, images or markup."""
    text = INLINE_CODE.sub(" ", text)
    text = MD_LINK.sub(lambda m: "" if m.group(1) else m.group(2), text)
    text = MD_LINK.sub(lambda m: "" if m.group(1) else m.group(2), text)  # a link whose text held an image
    text = REF_LINK.sub(lambda m: m.group(1), text)
    text = re.sub(r"<(?:https?|mailto):[^>]*>|https?://\S+", " ", text)
    text = TAG.sub(" ", text)
    text = re.sub(r"\{[^}]*\}|\[\^[^\]]+\]", " ", text)  # attribute lists, footnote marks
    text = re.sub(r"\+\+([\w+-]+)\+\+", lambda m: m.group(1).replace("+", " "), text)  # keys: ++ctrl+c++
    text = re.sub(r"\*+|(?<!\w)_+|_+(?!\w)|~~", "", text)
    # what is left where code stood: "go to ." or "name , , or"
    text = re.sub(r"\s+(?=[.,;:!?])", "", " ".join(text.split()))
    text = re.sub(r"([,;:])(?:[\s,;:]*[,;:])+", r"\1", text)
    return re.sub(r"^[\s,;:.]+", "", text)


def prose(markdown: str) -> list[tuple[int, str]]:
    """The page's paragraphs and list items as plain sentences, each with the line it starts on.

    Left out: front matter, code, tables, headings, admonition titles, HTML comments, directives.
    A paragraph or list item that does not end a sentence gets a full stop, as a reader
    pauses there.
    """
    lines = read_lines(markdown)
    admonitions = find_admonitions(lines)
    admonition_starts = {admonition.start for admonition in admonitions}
    heading_lines = {h.line for h in find_headings(lines, admonitions)}
    blocks: list[tuple[int, str]] = []
    current: list[str] = []
    first = 0

    def close() -> None:
        text = " ".join(current).strip()
        current.clear()
        if text:
            if not re.search(r"[.!?][\"')\]]*$", text):
                text = text.rstrip(":;,–—- ") + "."
            blocks.append((first, text))

    for index, line in enumerate(lines):
        text = LINE_PREFIX.sub("", line.text.strip())
        if (
            line.skip
            or not text
            or index in admonition_starts
            or line.number in heading_lines
            or NOT_PROSE.match(text)
            or (SETEXT.match(text) and index > 0 and lines[index - 1].number in heading_lines)
        ):
            close()
            continue
        item = LIST_ITEM.match(text)
        if item:
            close()
            text = text[item.end() :]
        words = _plain(text)
        if not words:
            close()
            continue
        if not current:
            first = line.number
        current.append(words)
    close()
    return blocks


def reading_grade(path: str, markdown: str) -> Grade:
    """The page's Flesch-Kincaid grade, and where its hardest paragraph starts."""
    import textstat  # imported here: only graded pages need it, and it loads a dictionary

    blocks = prose(markdown)
    text = " ".join(words for _, words in blocks)
    hardest: tuple[float, int] | None = None
    for line, words in blocks:
        if textstat.lexicon_count(words) >= MIN_PARAGRAPH_WORDS:
            grade = textstat.flesch_kincaid_grade(words)
            if hardest is None or grade > hardest[0]:
                hardest = (grade, line)
    return Grade(
        path,
        round(textstat.flesch_kincaid_grade(text), 1) if text else 0.0,
        textstat.lexicon_count(text) if text else 0,
        textstat.sentence_count(text) if text else 0,
        hardest[1] if hardest else None,
        round(hardest[0], 1) if hardest else None,
    )
