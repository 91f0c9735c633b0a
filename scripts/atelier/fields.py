"""Typed fields of a file a person edits, and the one way to say which field is wrong.

Cluster profiles, the semester pin, a profile's `backup:` section and module.yaml are YAML
that maintainers and instructors write by hand. Each reports a wrong field the same way,
`<file>: '<field>' <problem>.`, naming it by its dotted path (`gpus.a100.title`,
`outputs[0].width`) under the reader's own message code. Loaders raise at the first
problem; lint passes a list and gets every problem, so one run lists every fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from atelier.messages import AtelierError, Finding

Check = Callable[[Any], "str | None"]  # the problem with a value that is there, or None
MISSING = "is missing"
NOT_MAPPING = "must be a mapping of fields"
TOP_LEVEL = "(top level)"


def of_type(kind: type) -> Check:
    """A value of that Python type (True and False are not numbers here)."""

    def check(value: Any) -> str | None:
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return None
        return f"is {value!r}, expected {kind.__name__}"

    return check


def matching(pattern: re.Pattern[str], expected: str) -> Check:
    """A value whose text the pattern matches; `expected` says in words what would."""
    return lambda value: None if pattern.match(str(value)) else f"is {value!r}, expected {expected}"


def one_of(choices: tuple[str, ...]) -> Check:
    return lambda value: None if value in choices else f"is {value!r}, expected one of {', '.join(choices)}"


class Fields:
    """The fields of one mapping in `file`, looked up by dotted name and checked as they are read.

    With `found` None a problem raises AtelierError(code); with a list it is added there as a
    Finding and the reader gets the default, so it can go on to the next field.
    """

    def __init__(self, code: str, file: Path, data: Any, found: list[Finding] | None = None, name: str = "") -> None:
        self.code, self.file, self.found, self.name = code, file, found, name
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if not isinstance(data, Mapping):
            self.wrong("", NOT_MAPPING)

    def section(self, data: Any, name: str) -> Fields:
        """The fields of `data`, the mapping at `name` below this one (reported if it is not a mapping)."""
        return Fields(self.code, self.file, data, self.found, self.full(name))

    def quietly(self) -> Fields:
        """These fields, read for their values alone: problems go unreported (they are reported elsewhere)."""
        return Fields(self.code, self.file, self.data, [], self.name)

    def full(self, name: str) -> str:
        """The dotted name a message shows: `name` below this section."""
        if not name:
            return self.name or TOP_LEVEL
        return f"{self.name}.{name}" if self.name else name

    def wrong(self, name: str, problem: str) -> None:
        """Report `problem` with field `name`: raise it, or add it to the findings."""
        values = {"file": self.file, "field": self.full(name), "problem": problem}
        if self.found is None:
            raise AtelierError(self.code, **values)
        self.found.append(Finding(self.code, values))

    def value(self, name: str, default: Any = None) -> Any:
        """The value at dotted `name` as written, unchecked; `default` where a step is absent."""
        value: Any = self.data
        for key in name.split("."):
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value

    def get(self, name: str, check: Check | None = None, required: bool = True, default: Any = None) -> Any:
        """The value at `name` if it passes `check`; an absent (or null) field is a problem when `required`."""
        value = self.value(name)
        if value is None:
            if required:
                self.wrong(name, MISSING)
            return default
        problem = check(value) if check else None
        if problem:
            self.wrong(name, problem)
            return default
        return value
