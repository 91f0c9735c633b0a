"""The Start here pages' generated parts follow the form, the profiles and the messages."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from atelier.hpc import ood
from atelier.hpc.profiles import installed_profiles, load_profile
from atelier.lessons.modules import all_modules
from atelier.messages import MESSAGES
from atelier.project import Project
from atelier.site.pages import start as startpages
from tests.erb import NO_RUBY, RUBY, rendered
from tests.unit.test_site_build import build, site_copy

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Project(ROOT)


def _config() -> dict:
    return ood.site_config(installed_profiles(), all_modules(ROOT / "workflows"))


@pytest.mark.skipif(RUBY is None, reason=NO_RUBY)
def test_form_fields_are_what_ruby_renders(tmp_path: Path) -> None:
    """Read without Ruby for the site build; compared here with the real rendering."""
    config = _config()
    site = ood.write_site_file(config, tmp_path / "atelier.yml")
    form = yaml.safe_load(rendered("form.yml.erb", site))
    fields = ood.form_fields(config, ROOT / "ood" / "comfyui" / "form.yml.erb")
    assert [f.name for f in fields] == form["form"]
    for field in fields:
        spec = form["attributes"][field.name]
        first = spec["options"][0][0] if spec.get("options") else ""  # what the browser shows until changed
        if field.name == "cluster":  # OOD makes this field's choices from the form's cluster list
            first = config["clusters"][form["cluster"][0]]["title"]
            assert field.choices == [config["clusters"][name]["title"] for name in form["cluster"]]
        gpu_first = (
            f"{config['clusters'][spec['options'][0][1].split(':')[0]]['title']}: {first}"
            if field.name == "gpu"
            else first
        )
        assert (field.label, field.help, field.default) == (
            spec["label"],
            spec["help"],
            str(spec.get("value", gpu_first)),
        )
        if field.name == "gpu":  # shown with the cluster it belongs to
            titles = [f"{config['clusters'][c['cluster']]['title']}: {c['title']}" for c in config["choices"].values()]
            assert (
                field.choices
                == titles
                == [f"{config['clusters'][v.split(':')[0]]['title']}: {t}" for t, v, *_ in spec["options"]]
            )
        elif "options" in spec:
            assert field.choices == [option[0] for option in spec["options"]]
        elif "max" in spec:
            assert field.choices == [f"a whole number from {spec['min']} to {spec['max']}"]


def test_the_table_has_every_field_with_its_help_and_choices() -> None:
    table = startpages.form_table(startpages.launch_form(PROJECT))
    assert table.splitlines()[0] == "| Field | What to put in it | The choices | Already filled in |"
    assert (
        "| **Cluster** | Use the cluster your course was given time on. | Cerberus<br>Pegasus | `Cerberus` |" in table
    )
    assert "| `None: an empty canvas` |" in table  # a list starts on its first choice, as the browser shows it
    assert "Pegasus: NVIDIA A100 (80 GB)" in table and "This machine (tests)" not in table
    assert "| **Hours** |" in table and "a whole number from 1 to 24 | `1` |" in table
    assert "Your first image" in table and "Once you connect Box" in table
    assert "`$HOME/atelier-outputs`" in table


def test_a_changed_form_field_changes_the_start_page(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    form = project / "ood" / "comfyui" / "form.yml.erb"
    text = form.read_text()
    assert "label: Hours\n" in text
    form.write_text(
        text.replace("label: Hours\n", "label: Hours booked\n").replace(
            "Use the cluster your course was given time on.", "Pick the studio you were given."
        )
    )
    result = build(project)
    assert result.returncode == 0, result.stderr
    page = (project / "out" / "start" / "launch" / "index.html").read_text()
    assert "<strong>Hours booked</strong>" in page and "Pick the studio you were given." in page
    assert "given time on" not in page


def test_clusters_table_names_a_missing_value_and_the_banner_names_its_field() -> None:
    pegasus = dataclasses.replace(load_profile("pegasus"), support=None)
    assert startpages.clusters_table([pegasus]).splitlines()[2] == (
        "| Pegasus | [Pegasus account request](https://hpc.gwu.edu/getting-access/) "
        "| <https://ood002.pegasus.arc.gwu.edu/> | **not set yet** (profile field `support`) |"
    )
    banner = startpages.preview_banner([pegasus], {"ondemand_url", "support"})
    assert banner.startswith('!!! danger "Preview: not ready for students"')
    assert "    - Pegasus: `support` in `pegasus.yaml`: whom students write to when stuck" in banner
    assert "ondemand_url" not in banner  # Pegasus gives it
    confirmed = dataclasses.replace(
        pegasus, ondemand_url="https://ondemand.example.edu", support="art-help@example.edu"
    )
    assert startpages.clusters_table([confirmed]).splitlines()[2] == (
        "| Pegasus | [Pegasus account request](https://hpc.gwu.edu/getting-access/) "
        "| <https://ondemand.example.edu> | <art-help@example.edu> |"
    )
    assert startpages.preview_banner([confirmed], {"ondemand_url", "support"}) == ""


def test_limits_follow_the_profiles_and_the_forms_one_starting_value(monkeypatch: pytest.MonkeyPatch) -> None:
    longer = dataclasses.replace(load_profile("cerberus"), max_hours=12, default_hours=3)
    shorter = dataclasses.replace(load_profile("pegasus"), default_hours=1)
    lines = startpages.limits_table(startpages.launch_form(PROJECT, [longer, shorter]), [longer, shorter]).splitlines()
    assert lines[0] == "The form starts at **1 hour** for every cluster."  # the form offers the smallest
    assert lines[4] == "| Cerberus | 12 hours | `atelier-outputs` in your home folder |"


# What a browser session runs: ComfyUI's extensions and the server that hands them their sentences,
# the dashboard's apps, and what a session does in its log (user folder, backups).
BROWSER_SOURCES = [
    *(ROOT / "scripts" / "atelier" / "comfy" / "extensions").rglob("*.py"),
    ROOT / "scripts" / "atelier" / "comfy" / "server.py",
    ROOT / "scripts" / "atelier" / "comfy" / "headless.py",
    *(ROOT / "scripts" / "atelier" / "web").glob("*.py"),
    *(ROOT / "scripts" / "atelier" / "keep").glob("*.py"),
    ROOT / "scripts" / "atelier" / "files.py",
    ROOT / "scripts" / "atelier" / "cli" / "sessions.py",
]  # `atelier serve`: the session itself


def test_page_10_lists_the_messages_a_browser_only_student_meets_and_only_those(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = startpages.student_messages()
    shown = {code for code in MESSAGES if f"{{#{code}}}" in page}
    assert shown == set(startpages.BROWSER_MESSAGES)
    assert all(MESSAGES[code].reader == "student" for code in shown)
    sources = "\n".join(p.read_text(encoding="utf-8") for p in BROWSER_SOURCES)
    assert not [code for code in shown if f'"{code}"' not in sources and f"'{code}'" not in sources], (
        "not raised in a session"
    )
    # What only a terminal command prints is in Reference: page 10 names no command to type.
    assert not shown & {
        "session-slow",
        "session-unknown",
        "run-timeout",
        "sweep-too-big",
        "slurm-refused",
        "server-died",
    }
    assert "'atelier " not in page and "--" not in page.replace("---", "")
    changed = dict(MESSAGES)
    changed["folder-full"] = dataclasses.replace(MESSAGES["folder-full"], hint="Call the studio desk.")
    monkeypatch.setattr(startpages, "MESSAGES", changed)
    assert "**What to do:** Call the studio desk." in startpages.student_messages()


def test_the_workflow_students_download_names_its_lesson(published_site: tuple[str, Path]) -> None:
    """Pictures made from a downloaded workflow are filed under their lesson, as the form's are."""
    import json

    _, folder = published_site
    for module in all_modules(ROOT / "workflows"):
        published = json.loads((folder / "lessons" / module.slug / "workflow.json").read_text(encoding="utf-8"))
        assert published["extra"]["atelier_module"] == module.slug
        assert published["nodes"] == module.workflow["nodes"] and published["links"] == module.workflow["links"]


def test_tour_pictures_carry_the_alt_text_written_when_they_were_taken(tmp_path: Path) -> None:
    from mkdocs.exceptions import PluginError

    shown = startpages.screenshot("tour-canvas", PROJECT.screenshots)
    assert shown.startswith("![The whole ComfyUI window with the lesson 'Your first image' open")
    assert "](../assets/screenshots/tour-canvas.png)" in shown  # then its crop for phones
    folder = tmp_path / "docs" / "assets" / "screenshots"
    folder.mkdir(parents=True)
    (folder / "tour-canvas.png").write_bytes((ROOT / "docs/assets/screenshots/tour-canvas.png").read_bytes())
    (folder / "screenshots.yml").write_text("screenshots:\n  tour-canvas.png: ''\n")
    with pytest.raises(PluginError, match=r"tour-canvas.png: missing, or without alt text in screenshots.yml"):
        startpages.screenshot("tour-canvas", folder)
    for name in startpages.TOUR_SHOTS:  # every picture the pages ask for exists
        assert f"<!-- screenshot {name} -->" in "".join(p.read_text() for p in (ROOT / "docs/start").glob("*.md"))
        startpages.screenshot(name, PROJECT.screenshots)


@pytest.mark.skipif(RUBY is None, reason=NO_RUBY)
def test_start_here_names_the_hours_the_form_starts_at(tmp_path: Path) -> None:
    """One source: the page's "choose N hours" is the value the launch form starts at."""
    site = ood.write_site_file(_config(), tmp_path / "atelier.yml")
    value = yaml.safe_load(rendered("form.yml.erb", site))["attributes"]["hours"]["value"]
    assert startpages.starting_hours(startpages.launch_form(PROJECT)) == f"{value} hour" + ("" if value == 1 else "s")
    page = (ROOT / "docs" / "start" / "launch.md").read_text(encoding="utf-8")
    assert startpages.START_HOURS_MARKER in page
    assert value == min(p.default_hours for p in installed_profiles()) == 1  # a lesson fits in one hour
