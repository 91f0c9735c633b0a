"""The site build itself refuses what must not be published, naming file and line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = str(Path(sys.executable).parent / "mkdocs")


def site_copy(tmp_path: Path) -> Path:
    for name in ("docs", "workflows", "tools", "scripts", "checks", "ood"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy2(ROOT / "mkdocs.yml", tmp_path)
    return tmp_path


def build(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MKDOCS, "build", "-d", str(project / "out")],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def add_page(project: Path, text: str) -> None:
    (project / "docs" / "how-to" / "extra.md").write_text(text)
    config = project / "mkdocs.yml"
    config.write_text(
        config.read_text().replace("      - how-to/index.md\n", "      - how-to/index.md\n      - how-to/extra.md\n")
    )


def test_the_project_site_builds_with_no_warning(tmp_path: Path) -> None:
    result = build(site_copy(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr


def test_broken_links_anchors_and_images_name_file_and_line(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    add_page(
        project,
        "\n".join(
            [
                "# Extra",
                "",
                "A [bad link](nowhere.md) and [a bad anchor](../start/index.md#nope).",
                "",
                "![](missing.png)",
                "",
                '<img src="../assets/favicon.svg">',
                "",
                "```",
                "[inside code is not a link](inside-code.md)",
                "```",
                "",
                "A [good anchor](#extra), a [missing one](#gone) and [a good page](../start/index.md).",
                "",
                '!!! note "Indented content is checked too"',
                "",
                "    See [nothing](gone.md).",
            ]
        ),
    )
    result = build(project)
    assert result.returncode == 1
    lines = [line.split("atelier: ", 1)[1] for line in result.stderr.splitlines() if "atelier: " in line]
    assert sorted(lines) == sorted(
        [
            "docs/how-to/extra.md:3: link target 'nowhere.md' does not exist (looked for docs/how-to/nowhere.md)",
            "docs/how-to/extra.md:5: image 'missing.png' has no alt text: describe what matters in it",
            "docs/how-to/extra.md:5: image 'missing.png' does not exist (looked for docs/how-to/missing.png)",
            "docs/how-to/extra.md:7: image '../assets/favicon.svg' has no alt text: describe what matters in it",
            "docs/how-to/extra.md:17: link target 'gone.md' does not exist (looked for docs/how-to/gone.md)",
            "docs/how-to/extra.md:3: link '../start/index.md#nope': "
            "no heading or anchor '#nope' in docs/start/index.md",
            "docs/how-to/extra.md:13: link '#gone': no heading or anchor '#gone' in docs/how-to/extra.md",
        ]
    )
    assert "Aborted with" in result.stdout and "warnings in strict mode!" in result.stdout


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            '<script src="https://cdn.example.org/lib.js"></script>',
            "docs/how-to/extra.md:3: <script> loads https://cdn.example.org/lib.js from another host",
        ),
        (
            '<link rel="stylesheet" href="//fonts.example.org/css?family=Serif">',
            "docs/how-to/extra.md:3: <link> loads //fonts.example.org/css?family=Serif from another host",
        ),
        (
            "![A painting](https://images.example.org/a.png)",
            "docs/how-to/extra.md:3: image 'https://images.example.org/a.png' "
            "loads from another host: save it under docs/",
        ),
        (
            '<div style="background: url(https://example.org/bg.png)">x</div>',
            "docs/how-to/extra.md:3: <div style> loads https://example.org/bg.png from another host",
        ),
        (
            '<div class="mermaid">graph LR; A-->B</div>',
            "docs/how-to/extra.md: uses a Mermaid diagram, whose library the theme loads from a CDN",
        ),
    ],
)
def test_a_page_that_loads_from_another_host_fails(tmp_path: Path, page: str, expected: str) -> None:
    project = site_copy(tmp_path)
    add_page(project, f"# Extra\n\n{page}\n")
    result = build(project)
    assert result.returncode == 1
    assert f"atelier: {expected}" in result.stderr


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  font: false ",
            "  font: {text: Roboto} ",
            "mkdocs.yml: theme.font loads web fonts from Google: set 'font: false'",
        ),
        (
            "docs_dir: docs\n",
            "docs_dir: docs\nrepo_url: https://example.org/atelier\n",
            "mkdocs.yml: repo_url makes every page ask the repository host for stars and forks: remove it",
        ),
        (
            "  - assets/atelier.js\n",
            "  - assets/atelier.js\n  - https://cdn.example.org/x.js\n",
            "mkdocs.yml: extra_javascript entry https://cdn.example.org/x.js "
            "is on another host: vendor it under docs/assets/",
        ),
    ],
)
def test_a_theme_setting_that_loads_from_another_host_fails(tmp_path: Path, old: str, new: str, expected: str) -> None:
    project = site_copy(tmp_path)
    config = project / "mkdocs.yml"
    assert old in config.read_text()
    config.write_text(config.read_text().replace(old, new))
    result = build(project)
    assert result.returncode == 1
    assert f"atelier: {expected}" in result.stderr


def test_a_stylesheet_that_imports_from_another_host_fails(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    css = project / "docs" / "assets" / "atelier.css"
    css.write_text('@import url("https://fonts.example.org/serif.css");\n' + css.read_text())
    result = build(project)
    assert result.returncode == 1
    assert (
        "atelier: assets/atelier.css: stylesheet loads https://fonts.example.org/serif.css from another host"
        in result.stderr
    )


def test_generated_pages_follow_their_sources(tmp_path: Path) -> None:
    """Change the glossary; the glossary page and the tooltips change with it."""
    project = site_copy(tmp_path)
    glossary = project / "docs" / "glossary.yml"
    glossary.write_text(glossary.read_text() + "Atelier: A studio, and the name of this site.\n")
    assert build(project).returncode == 0
    page = (project / "out" / "reference" / "glossary" / "index.html").read_text()
    assert "<dt>Atelier</dt>" in page and "A studio, and the name of this site." in page
    home = (project / "out" / "index.html").read_text()
    assert '<abbr title="A studio, and the name of this site.">Atelier</abbr>' in home


def test_bad_glossary_names_file_and_line(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    glossary = project / "docs" / "glossary.yml"
    glossary.write_text(glossary.read_text() + "Broken: a: b\n")
    result = build(project)
    assert result.returncode == 1
    assert "glossary.yml:" in result.stderr and "not valid YAML (mapping values are not allowed here)" in result.stderr


def test_the_site_builds_the_same_from_another_folder(tmp_path: Path) -> None:
    """A maintainer's nightly job need not `cd` first: the project is the folder of mkdocs.yml."""
    project = site_copy(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [MKDOCS, "build", "-f", str(project / "mkdocs.yml"), "-d", str(tmp_path / "there")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
    here = build(project)
    assert here.returncode == 0, here.stderr
    built = sorted(p.relative_to(project / "out") for p in (project / "out").rglob("*") if p.is_file())
    assert built == sorted(p.relative_to(tmp_path / "there") for p in (tmp_path / "there").rglob("*") if p.is_file())
    for page in (
        "runbook/models/index.html",
        "teach/gpu-time/index.html",
        "start/launch/index.html",
        "lessons/txt2img-basics/index.html",
        "runbook/clusters/index.html",
    ):
        assert (project / "out" / page).read_text() == (tmp_path / "there" / page).read_text(), page


def test_a_placeholder_instead_of_a_value_fails_the_build(tmp_path: Path) -> None:
    """mkdocs-click's table style shows click's Sentinel.UNSET as a default: the build must refuse it."""
    project = site_copy(tmp_path)
    page = project / "docs" / "reference" / "cli.md"
    page.write_text(page.read_text().replace(":style: plain", ":style: table"))
    result = build(project)
    assert result.returncode == 1
    assert (
        "atelier: docs/reference/cli.md: shows the placeholder 'Sentinel.UNSET' where a real value belongs"
        in result.stderr
    )


def test_the_command_reference_shows_each_default_as_the_command_does(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    assert build(project).returncode == 0
    page = (project / "out" / "reference" / "cli" / "index.html").read_text()
    assert "--cluster" in page and "[default: local]" in page


def test_a_typed_claim_that_lessons_were_checked_fails_and_the_recorded_one_passes(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    add_page(project, "# Extra\n\nEvery lesson is checked on a GPU nightly.\n\n<!-- check record -->\n")
    result = build(project)
    assert result.returncode == 1
    assert (
        "atelier: docs/how-to/extra.md: says 'nightly', a claim about checks that only the recorded reports may make"
    ) in result.stderr
    page = project / "docs" / "how-to" / "extra.md"
    page.write_text("# Extra\n\nWhat has run: <!-- check record -->\n")
    result = build(project)
    assert result.returncode == 0, result.stderr
    html = (project / "out" / "how-to" / "extra" / "index.html").read_text()
    html = re.sub(r"<[^>]+>", "", html)  # the text a reader sees, without the glossary's tooltips
    for record in (ROOT / "docs" / "status").glob("*.json"):  # each recorded check, in its own figures
        report = json.loads(record.read_text())
        passed = sum(r["status"] == "passed" for r in report["results"])
        assert (
            f"On {report['date'][:10]}, {passed} of {len(report['results'])} lesson modules ran to the end on "
            f"a CPU with {report['hardware']['cores']} cores and no GPU"
        ) in html, record
    assert "No check with the real models has been recorded yet" in html


def test_a_count_written_for_any_number_and_an_unpaired_bracket_fail(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    add_page(
        project,
        "# Extra\n\nBook 1 hours, or 2 hour(s). In code it is fine: `1 hours`.\n\n"
        "A copy is kept with *(from session* in its name.\n",
    )
    result = build(project)
    assert result.returncode == 1
    assert (
        "atelier: docs/how-to/extra.md: unbalanced brackets in 'A copy is kept with (from session in its name.'"
        in result.stderr
    )
    assert "atelier: docs/how-to/extra.md: says '1 hours': write the count with messages.plural" in result.stderr
    assert "atelier: docs/how-to/extra.md: says 'hour(s)': write the count with messages.plural" in result.stderr
