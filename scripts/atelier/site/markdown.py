"""Markdown for the generated parts of pages: one way to write a table and its cells."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def cell(text: Any) -> str:
    """Text that stays in its table cell: a `|` would end it, a line break would end the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; cells are written as given (escape free text with `cell`)."""
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])
