"""The message catalogue: complete both ways, plain, and exact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atelier.messages import CATALOGUE, AtelierError

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "atelier"
RAISED = re.compile(r"""AtelierError\(\s*["']([a-z0-9-]+)["']""")


def raised_codes() -> set[str]:
    return {code for path in PACKAGE.rglob("*.py") for code in RAISED.findall(path.read_text())}


def test_every_raised_code_is_registered() -> None:
    assert raised_codes() - CATALOGUE.keys() == set()


def test_every_registered_code_is_raised() -> None:
    assert CATALOGUE.keys() - raised_codes() == set()


@pytest.mark.parametrize("message", CATALOGUE.values(), ids=CATALOGUE.keys())
def test_message_is_plain(message) -> None:
    for text in (message.text, message.hint):
        assert text[0].isupper() or text.startswith("{"), text
        assert text.endswith("."), text
        assert "Traceback" not in text and "Exception" not in text
    assert message.reader in {"student", "instructor", "maintainer"}
    assert message.exit_code in {1, 2}


def test_exact_texts() -> None:
    cases = {
        "lock-missing": ({"file": "workflows/lock.yaml"},
                         "The semester pin workflows/lock.yaml was not found. "
                         "Run atelier from the project folder, or pass the file's path with --lock."),
        "lock-malformed": ({"file": "lock.yaml", "line": 3, "problem": "found a tab"},
                           "lock.yaml is not valid YAML (line 3: found a tab). "
                           "Fix that line; the Runbook page 'The semester pin' shows a complete example."),
        "lock-field": ({"file": "lock.yaml", "field": "semester", "problem": "is missing"},
                       "lock.yaml: 'semester' is missing. "
                       "Fix that field; the Runbook page 'The semester pin' shows a complete example."),
        "unexpected": ({"error": "KeyError"},
                       "Something went wrong inside atelier (KeyError). Run the same command again with "
                       "--debug and send what it prints to your course's support contact."),
    }
    assert cases.keys() == CATALOGUE.keys(), "every message has an exact-text case"
    for code, (values, expected) in cases.items():
        assert str(AtelierError(code, **values)) == expected


def test_unregistered_code_or_missing_value_is_a_bug() -> None:
    with pytest.raises(KeyError):
        AtelierError("no-such-code")
    with pytest.raises(KeyError):
        AtelierError("lock-missing")
