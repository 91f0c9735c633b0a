"""The message catalogue: complete both ways, plain, rendered in one golden file, and said by real commands.

tests/golden/messages.txt holds every message as a person reads it, rendered with the
sample values in tests/fixtures/message-samples.yml (a message without samples shows its
fields as <name>). A change to a message's words shows there as a diff to review; remake
the file with the command in tests/goldens.py (REGENERATE). The commands at the end run the real `atelier` and check
that what it prints is, word for word, the golden file's text.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from atelier.messages import MESSAGES, AtelierError, Message
from tests.goldens import GOLDEN, compare, updating

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "scripts" / "atelier"
MADE_BY = {"AtelierError", "Finding", "Fields"}  # Fields: a file's typed fields, each problem a Finding
MESSAGES_GOLDEN = GOLDEN / "messages.txt"


def calls() -> list[tuple[str, str, set[str] | None]]:
    """Every (where, code, fields passed) the package makes a message with; fields None where not literal."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            first = node.args[0]
            if name not in MADE_BY or not isinstance(first, ast.Constant) or not isinstance(first.value, str):
                continue
            given: set[str] | None = None
            if name == "AtelierError" and all(k.arg for k in node.keywords):
                given = {k.arg for k in node.keywords if k.arg}
            values = node.args[1] if name == "Finding" and len(node.args) > 1 else None
            if isinstance(values, ast.Dict) and all(isinstance(k, ast.Constant) for k in values.keys):
                given = {k.value for k in values.keys if isinstance(k, ast.Constant)}
            found.append((f"{path.relative_to(ROOT)}:{node.lineno}", first.value, given))
    return found


CALLS = calls()


def test_every_raised_code_is_registered() -> None:
    assert {code for _, code, _ in CALLS} - MESSAGES.keys() == set()


def test_every_registered_code_is_raised() -> None:
    assert MESSAGES.keys() - {code for _, code, _ in CALLS} == set()


def test_each_raise_passes_the_fields_its_message_names() -> None:
    """A field missing is a crash at the raise; one too many was meant to be said and is not."""
    wrong = [
        f"{where} {code}: passes {sorted(given)}, the message names {sorted(MESSAGES[code].fields())}"
        for where, code, given in CALLS
        if given is not None and code in MESSAGES and given != MESSAGES[code].fields()
    ]
    assert wrong == []


@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_message_is_plain(message: Message) -> None:
    for text in (message.text, message.hint):
        assert text[0].isupper() or text.startswith("{"), text
        assert text.endswith("."), text
        assert "Traceback" not in text and "Exception" not in text
    assert message.reader in {"student", "instructor", "maintainer"}
    assert message.exit_code in {1, 2}


def test_unregistered_code_or_missing_value_is_a_bug() -> None:
    with pytest.raises(KeyError):
        AtelierError("no-such-code")
    code = next(code for code, message in MESSAGES.items() if message.fields())
    with pytest.raises(KeyError):
        AtelierError(code)


SAMPLES_FILE = ROOT / "tests" / "fixtures" / "message-samples.yml"
SAMPLES: dict[str, dict[str, object]] = yaml.safe_load(SAMPLES_FILE.read_text(encoding="utf-8"))


def rendered(code: str) -> str:
    """The message as a person reads it: its text, then what to do."""
    fields = MESSAGES[code].fields()
    return str(AtelierError(code, **{name: SAMPLES.get(code, {}).get(name, f"<{name}>") for name in fields}))


def golden_text() -> str:
    entries = [
        f"{code}: {message.reader}, exit code {message.exit_code}\n{rendered(code)}\n"
        for code, message in MESSAGES.items()
    ]
    return "\n".join(entries)


def test_samples_are_for_registered_messages_and_their_fields() -> None:
    stale = {
        code: sorted(set(values) - MESSAGES[code].fields()) for code, values in SAMPLES.items() if code in MESSAGES
    }
    assert sorted(SAMPLES.keys() - MESSAGES.keys()) == []
    assert {code: names for code, names in stale.items() if names} == {}


def test_every_message_as_rendered_is_the_golden_file() -> None:
    compare(MESSAGES_GOLDEN, golden_text())


def golden(code: str) -> str:
    """One message's text as the golden file holds it (reviewed), not as the catalogue makes it now."""
    if updating():
        return rendered(code)
    entries = MESSAGES_GOLDEN.read_text(encoding="utf-8").split("\n\n")
    found = [entry.split("\n", 1)[1].rstrip("\n") for entry in entries if entry.startswith(f"{code}: ")]
    assert found, f"{code} is not in {MESSAGES_GOLDEN.name}"
    return found[0]


def atelier(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atelier", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_lint_of_a_folder_without_modules_says_the_message(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    done = atelier("lint", "docs", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, f"Error: {golden('lint-no-modules')}\n")


def test_lint_of_broken_json_says_where(tmp_path: Path) -> None:
    (tmp_path / "portrait.json").write_text("[\n    ,\n]\n")
    done = atelier("lint", "portrait.json", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, f"error: {golden('json-malformed')}\n")


def test_lint_of_an_online_node_says_it_leaves_the_university(tmp_path: Path) -> None:
    node = {"id": 5, "type": "OpenAIDalle3", "title": "Make a picture", "inputs": [], "outputs": []}
    (tmp_path / "portrait.json").write_text(json.dumps({"nodes": [node], "links": []}))
    done = atelier("lint", "portrait.json", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, f"error: {golden('lint-online-node')}\n")


def test_run_without_comfyui_says_where_it_looked(tmp_path: Path) -> None:
    done = atelier("run", str(ROOT / "workflows" / "txt2img-basics"), cwd=tmp_path, COMFYUI_DIR="/opt/comfyui")
    assert (done.returncode, done.stderr) == (2, f"Error: {golden('comfyui-missing')}\n")


def test_a_profile_missing_a_field_is_named(tmp_path: Path) -> None:
    profile = yaml.safe_load((PACKAGE / "clusters" / "pegasus.yaml").read_text(encoding="utf-8"))
    del profile["gpus"]["v100"]["partition"]
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "pegasus.yaml").write_text(yaml.safe_dump(profile))
    done = atelier("install", "--cluster", "clusters/pegasus.yaml", "--dry-run", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (2, f"Error: {golden('cluster-field')}\n")
