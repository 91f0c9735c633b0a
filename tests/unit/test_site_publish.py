"""A published site leaves no student at a dead end: the build refuses, naming each missing profile value."""

from __future__ import annotations

import html
import os
import subprocess
from pathlib import Path

from atelier.hpc.profiles import installed_profiles, missing_for_students
from tests.unit.test_site_build import MKDOCS, site_copy

ROOT = Path(__file__).resolve().parents[2]


def build(project: Path, preview: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ATELIER_SITE_PREVIEW"}
    env["NO_MKDOCS_2_WARNING"] = "1"
    if preview:
        env["ATELIER_SITE_PREVIEW"] = "1"
    return subprocess.run(
        [MKDOCS, "build", "-d", str(project / "out")], cwd=project, capture_output=True, text=True, env=env
    )


def test_the_shipped_profiles_cannot_be_published_and_the_build_names_each_missing_value(tmp_path: Path) -> None:
    gaps = [(p, name) for p in installed_profiles() for name in missing_for_students(p)]
    assert gaps, "the shipped profiles are complete: this test should then check that the publish build passes"
    result = build(site_copy(tmp_path), preview=False)
    assert result.returncode == 1
    assert "The site cannot be published" in result.stderr
    for profile, name in gaps:
        assert f"clusters/{profile.file.name}: {name}: " in result.stderr, (profile.name, name)


def test_a_preview_shows_a_banner_where_a_value_is_missing_and_never_tells_students_to_ask(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    result = build(project, preview=True)
    assert result.returncode == 0, result.stderr
    sign_in = (project / "out" / "start" / "sign-in" / "index.html").read_text()
    assert "Preview: not ready for students" in sign_in
    assert "https://ood002.pegasus.arc.gwu.edu/" in sign_in  # Pegasus' dashboard, from its profile
    assert "not set yet</strong> (profile field <code>ondemand_url</code>)" in sign_in  # Cerberus names none
    for page in (project / "out" / "start").rglob("*.html"):
        assert "ask your instructor" not in page.read_text().lower(), page


def test_complete_profiles_publish_with_no_banner(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    for path in (project / "scripts" / "atelier" / "clusters").glob("*.yaml"):
        text = path.read_text()
        text = text.replace("ondemand_url: null", "ondemand_url: https://ondemand.example.edu/")
        text = text.replace("support: null", "support: hpc-help@example.edu")
        text = text.replace("client_id: null", "client_id: an-app-id")
        path.write_text(text)
    env_root = project / "scripts"  # the plugin then reads these profiles, not the installed ones
    result = subprocess.run(
        [MKDOCS, "build", "-d", str(project / "out")],
        cwd=project,
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if k != "ATELIER_SITE_PREVIEW"},
            "NO_MKDOCS_2_WARNING": "1",
            "PYTHONPATH": str(env_root),
        },
    )
    assert result.returncode == 0, result.stderr
    sign_in = (project / "out" / "start" / "sign-in" / "index.html").read_text()
    assert "Preview" not in sign_in and "not set yet" not in sign_in
    assert "mailto:hpc-help@example.edu" in html.unescape(sign_in)  # Markdown writes an address as entities
