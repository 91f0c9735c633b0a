"""A lesson module named by its name or by its folder means the same lesson in every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from atelier.cli import cli, main
from atelier.cli.comfyui import ComfyChoice
from atelier.cli.lookup import lesson_path, module_folder, pick_modules
from atelier.lessons.modules import module_folders
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]
SLUG = "txt2img-basics"
FORMS = [SLUG, f"workflows/{SLUG}", str(ROOT / "workflows" / SLUG)]
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens there: a command gets as far as the server


@pytest.fixture(autouse=True)
def in_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ATELIER_PROJECT", raising=False)


def atelier(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command as a person runs it: its exit code, what it printed and what it said on stderr."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def unknown(name: str) -> str:
    known = ", ".join(path.name for path in module_folders([Path("workflows")]))
    return (
        f"Error: There is no lesson module '{name}': no module folder at that path, and none of that name in "
        f"workflows. Give a module by its name or its folder; the modules there are: {known}.\n"
    )


@pytest.mark.parametrize("name", FORMS)
def test_the_resolver_takes_a_name_or_a_folder(name: str) -> None:
    assert module_folder(name).resolve() == ROOT / "workflows" / SLUG
    assert [m.slug for m in pick_modules((name,))] == [SLUG]


def test_a_name_is_found_in_the_job_s_own_folder_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OOD app ships its lessons in every session's folder, which is no project."""
    shutil.copytree(ROOT / "workflows" / SLUG, tmp_path / "workflows" / SLUG)
    monkeypatch.chdir(tmp_path)
    assert module_folder(SLUG) == Path("workflows") / SLUG
    assert module_folder(f"workflows/{SLUG}") == Path("workflows") / SLUG


def test_a_workflow_file_stays_a_file_for_run_and_sweep() -> None:
    assert lesson_path("my export.json") == Path("my export.json")
    assert lesson_path(SLUG) == Path("workflows") / SLUG


@pytest.mark.parametrize("name", ["nope", "workflows/nope", "docs"])
def test_a_wrong_name_lists_the_modules_there_are(name: str) -> None:
    with pytest.raises(AtelierError) as wrong:
        module_folder(name)
    assert wrong.value.code == "module-unknown" and wrong.value.exit_code == 2


def test_sweep_dry_run_is_the_same_for_both(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shown = [
        atelier(capsys, "sweep", name, "--vary", "KSampler.seed=1..2", "--dry-run", "--out", str(tmp_path / "s"))
        for name in FORMS
    ]
    assert shown[0][0] == 0, shown[0][2]
    assert shown[1:] == shown[:1] * 2
    assert atelier(capsys, "sweep", "nope", "--vary", "KSampler.seed=1..2", "--dry-run") == (2, "", unknown("nope"))


def test_run_finds_the_module_either_way(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """It gets as far as the server: the module was found and converted."""
    for name in FORMS:
        code, _, err = atelier(capsys, "run", name, "--server", UNREACHABLE, "--out", str(tmp_path))
        assert (code, f"Error: ComfyUI at {UNREACHABLE} is not answering." in err) == (1, True), err
    assert atelier(capsys, "run", "nope", "--server", UNREACHABLE) == (2, "", unknown("nope"))


def test_check_takes_both_forms(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    names = ["--module", SLUG, "--module", "workflows/img2img"]
    code, _, _ = atelier(capsys, "check", "--real", *names, "--server", UNREACHABLE, "--out", str(tmp_path))
    report = json.loads((tmp_path / "report.json").read_text())
    assert (code, [r["module"] for r in report["results"]]) == (1, [SLUG, "img2img"])
    assert atelier(capsys, "check", "--real", "--module", "nope", "--server", UNREACHABLE) == (2, "", unknown("nope"))


class Offered(Exception):
    """Stops `serve` once the module is in the Workflows panel: ComfyUI is never started."""


class FakeServer:
    drain_seconds = 0.0
    output_dir = Path("outputs")

    def __init__(self, **given: Any) -> None:
        self.given = given

    def offer_workflow(self, module: Any) -> None:
        raise Offered(module.slug)

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("name", FORMS)
def test_serve_offers_the_module_either_way(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    made: list[FakeServer] = []

    def server(comfy: ComfyChoice, workdir: Path, **given: Any) -> FakeServer:
        made.append(FakeServer(**given))
        return made[-1]

    monkeypatch.setattr(ComfyChoice, "install", lambda comfy: None)
    monkeypatch.setattr(ComfyChoice, "server", server)
    monkeypatch.setattr("atelier.cli.sessions.job_deadline", lambda margin: None)
    monkeypatch.delenv("ATELIER_BACKUP_TO", raising=False)
    with pytest.raises(Offered) as offered:  # straight from click: main would file it as a bug
        cli.main(["serve", "--module", name, "--session-key-file", "gate/token"], standalone_mode=False)
    assert str(offered.value) == SLUG
    assert made[0].given["key_file"] == Path("gate/token")


def test_new_module_starts_from_a_module_by_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ["--title", "T", "--modality", "image", "--level", "first-year", "--root", str(tmp_path)]
    code, out, err = atelier(capsys, "new-module", "copy-of-it", "--from", str(ROOT / "workflows" / SLUG), *args)
    assert code == 0, err
    assert (tmp_path / "copy-of-it" / "workflow.json").is_file()
    assert atelier(capsys, "new-module", "other", "--from", "nope", *args)[0] == 2


def test_bench_takes_a_lesson_by_folder_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workload is a standard one or a lesson; the lesson is looked up as every command looks one up."""
    monkeypatch.setattr(ComfyChoice, "install", lambda comfy: None)
    assert atelier(capsys, "bench", "--workload", "workflows/nope") == (2, "", unknown("workflows/nope"))
