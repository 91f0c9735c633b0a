"""The semester pin: each malformed field is named, with the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from atelier.lessons.pin import load_pin
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "workflows" / "pin.yaml").read_text()


def test_the_project_pin_is_valid() -> None:
    pin = load_pin(ROOT / "workflows" / "pin.yaml")
    assert pin.semester == "2026-fall"
    assert len(pin.comfyui_commit) == 40


@pytest.mark.parametrize(
    ("semester", "version", "title"),
    [
        ("2026-winter", "2026-1-winter", "Winter 2026"),
        ("2026-spring", "2026-2-spring", "Spring 2026"),
        ("2026-summer", "2026-3-summer", "Summer 2026"),
        ("2026-fall", "2026-4-fall", "Fall 2026"),
    ],
)
def test_docs_versions_sort_in_time(tmp_path: Path, semester: str, version: str, title: str) -> None:
    path = tmp_path / "pin.yaml"
    path.write_text(GOOD.replace("semester: 2026-fall", f"semester: {semester}"))
    pin = load_pin(path)
    assert (pin.docs_version, pin.docs_title) == (version, title)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "semester: 2026-fall",
            "semester: autumn",
            "'semester' is 'autumn', expected a year and a term such as 2026-fall.",
        ),
        ("semester: 2026-fall\n", "", "'semester' is missing."),
        ("  version: 0.3.64", "  version: latest", "'comfyui.version' is 'latest', expected a release such as 0.3.64."),
        (
            "  commit: a125cd84b054a57729b5eecab930ca9408719832",
            "  commit: a125cd8",
            "'comfyui.commit' is 'a125cd8', expected a full 40-character commit.",
        ),
        (
            "    commit: 553187872eeb1d52e50dc53209fa57e569609a72",
            "    commit: main",
            "'custom_nodes[0].commit' must be a full 40-character commit.",
        ),
        ("custom_nodes:\n", "custom_nodes: yes\nformer_nodes:\n", "'custom_nodes' must be a list."),
        (
            "model_folders: [depthanything]",
            "model_folders: [../escape]",
            "'custom_nodes[0].model_folders' must be a list of folder names such as depthanything.",
        ),
    ],
)
def test_bad_field_is_named(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = tmp_path / "pin.yaml"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(AtelierError) as err:
        load_pin(path)
    assert err.value.code == "pin-field"
    assert err.value.text == f"{path}: {message}"


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pin.yaml"
    path.write_text("semester: 2026-fall\ncomfyui:\n  version: [0.3\n")
    with pytest.raises(AtelierError) as err:
        load_pin(path)
    assert err.value.code == "yaml-malformed"
    assert err.value.text.startswith(f"{path} is not valid YAML (line 4: ")
