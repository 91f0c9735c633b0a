"""The one catalogue of messages a person can meet, and the error that carries them.

Every user-facing failure is a registered code with a message (what happened) and a
hint (what to do), in plain language. The CLI prints them; the troubleshooting page is
generated from this list; a test checks that every raised code is registered and every
registered code is raised. Keeping them here, not at the raise sites, is what lets the
docs and the tests see all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
import string


@dataclass(frozen=True)
class Message:
    """One registered message: `text` and `hint` are `str.format` templates."""

    code: str
    text: str
    hint: str
    reader: str  # who meets it: "student", "instructor" or "maintainer"
    exit_code: int = 1  # 1: it failed; 2: the input was wrong

    def fields(self) -> set[str]:
        """The placeholder names the templates use."""
        names = set()
        for template in (self.text, self.hint):
            names |= {name for _, name, _, _ in string.Formatter().parse(template) if name}
        return names


CATALOGUE: dict[str, Message] = {
    m.code: m
    for m in [
        Message(
            "lock-missing",
            "The semester pin {file} was not found.",
            "Run atelier from the project folder, or pass the file's path with --lock.",
            "maintainer",
            2,
        ),
        Message(
            "lock-malformed",
            "{file} is not valid YAML (line {line}: {problem}).",
            "Fix that line; the Runbook page 'The semester pin' shows a complete example.",
            "maintainer",
            2,
        ),
        Message(
            "lock-field",
            "{file}: '{field}' {problem}.",
            "Fix that field; the Runbook page 'The semester pin' shows a complete example.",
            "maintainer",
            2,
        ),
        Message(
            "unexpected",
            "Something went wrong inside atelier ({error}).",
            "Run the same command again with --debug and send what it prints to your course's support contact.",
            "student",
        ),
    ]
}


class AtelierError(Exception):
    """The single error type: a registered code plus the values its templates name."""

    def __init__(self, code: str, **values: object) -> None:
        if code not in CATALOGUE:
            raise KeyError(f"message code {code!r} is not in the catalogue")
        self.message = CATALOGUE[code]
        missing = self.message.fields() - values.keys()
        if missing:
            raise KeyError(f"message {code!r} needs {sorted(missing)}")
        self.values = values
        super().__init__(self.text)

    @property
    def code(self) -> str:
        return self.message.code

    @property
    def exit_code(self) -> int:
        return self.message.exit_code

    @property
    def text(self) -> str:
        return self.message.text.format(**self.values)

    @property
    def hint(self) -> str:
        return self.message.hint.format(**self.values)

    def __str__(self) -> str:
        return f"{self.text} {self.hint}"
