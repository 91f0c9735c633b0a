"""A page or message that says "press X" names a button that exists, spelled as its program spells it."""

from __future__ import annotations

import pytest

from atelier.lessons.modules import all_modules
from atelier.messages import MESSAGES
from tests.labels import BUTTON, COMFYUI, DESCRIBED, INVOKEAI, OOD, PRESSED, ROOT, own_labels

READER_PAGES = [
    *ROOT.glob("docs/start/*.md"),
    *ROOT.glob("docs/teach/*.md"),
    *ROOT.glob("docs/how-to/*.md"),
    ROOT / "docs" / "index.md",
    ROOT / "scripts" / "atelier" / "site" / "pages" / "lessons.py",
    *ROOT.glob("workflows/*/module.yaml"),
]


def named_labels() -> dict[str, set[str]]:
    """Label -> where it is named, over the reader pages, the lesson files and the messages."""
    found: dict[str, set[str]] = {}
    texts = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in READER_PAGES}
    texts |= {f"message {m.code}": f"{m.text} {m.hint}" for m in MESSAGES.values()}
    for where, text in texts.items():
        for label in PRESSED.findall(text) + BUTTON.findall(text):
            found.setdefault(label, set()).add(where)
    return found


def test_the_label_scan_finds_what_students_are_told_to_press() -> None:
    labels = named_labels()
    assert {"Run", "Open ComfyUI", "Launch", "Delete", "Workflows"} <= set(labels)


def test_every_named_button_exists_in_its_program() -> None:
    own = own_labels()
    titles = {m.title for m in all_modules(ROOT / "workflows")}
    known = (
        set(COMFYUI)
        | set(INVOKEAI)
        | set(OOD)
        | set(DESCRIBED)
        | titles
        | {f"{t}.json" for t in titles}
        | {"{module.title}"}
    )
    unknown = {
        label: sorted(where) for label, where in named_labels().items() if label not in known and label not in own
    }
    assert not unknown, f"labels no program shows: {unknown}"


@pytest.mark.parametrize("wrong", ["Connect", "Queue Prompt"])
def test_a_label_no_program_shows_is_caught(wrong: str) -> None:
    assert wrong not in set(COMFYUI) | set(OOD) and f">{wrong}<" not in own_labels()
