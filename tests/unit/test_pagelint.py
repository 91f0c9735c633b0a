"""The lesson linter: each rule catches a bad sample and passes a good one; the real site passes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atelier.lessons.convert import to_api
from atelier.lessons.modules import load_module
from atelier.lessons.nodes import load_node_list
from atelier.site import pagelint, readinglevel
from atelier.site.pagelint import Page
from atelier.site.pages import lessons

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = "docs/start/sample.md"

GOOD_TUTORIAL = """# Make a picture

!!! success "Objectives"

    - Run a workflow.
    - Change the seed.

## Run it

Press **Queue**. A picture appears after a few seconds.

!!! question "Exercise 1: A new seed"

    Change the seed and run it again.

    ??? tip "Hint"

        The seed is on the KSampler node.

    ??? success "Solution"

        You get a new picture of the same idea.

!!! note "Key points"

    - The seed picks which picture you get.
"""


def page(markdown: str, tutorial: bool = False, graded: bool = False) -> Page:
    return Page(TUTORIAL, markdown, tutorial=tutorial, graded=graded)


def problems(findings: list[pagelint.Problem]) -> list[str]:
    return [str(f) for f in findings]


# ---- Objectives and Key points ----------------------------------------------------------


def test_a_tutorial_with_both_admonitions_passes() -> None:
    assert pagelint.check_summary(page(GOOD_TUTORIAL, tutorial=True)) == []


def test_a_tutorial_without_the_admonitions_is_told_how_to_add_them() -> None:
    assert problems(pagelint.check_summary(page("# Make a picture\n\nPress Queue.\n", tutorial=True))) == [
        f'{TUTORIAL}:1: no "Objectives" admonition: add !!! success "Objectives" under the title, '
        "listing what the reader will be able to do",
        f'{TUTORIAL}:1: no "Key points" admonition: add !!! note "Key points" at the end, listing what to remember',
    ]


def test_an_empty_or_misspelt_box_is_found() -> None:
    markdown = GOOD_TUTORIAL.replace('!!! success "Objectives"', '!!! note "Objectives"').replace(
        "    - The seed picks which picture you get.\n", ""
    )
    assert problems(pagelint.check_summary(page(markdown, tutorial=True))) == [
        f'{TUTORIAL}:3: the "Objectives" admonition is written !!! note: write !!! success "Objectives"',
        f'{TUTORIAL}:24: the "Key points" admonition is empty: list them in it',
    ]


def test_pages_that_are_not_tutorials_need_no_admonitions() -> None:
    assert pagelint.check_summary(Page("docs/runbook/x.md", "# Runbook page\n\nText.\n")) == []


def test_a_lesson_without_key_points_names_its_module_yaml() -> None:
    module = load_module(ROOT / "workflows" / "txt2img-basics")
    module = dataclasses.replace(module, meta={**module.meta, "key_points": []})
    node_list = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")
    prompt, _ = to_api(module.workflow, node_list, module.workflow_path)
    markdown = lessons.lesson_page(module, node_list, prompt, {}, ROOT / "docs" / "assets" / "screenshots")
    lesson = Page("lessons/txt2img-basics.md", markdown, tutorial=True, source="workflows/txt2img-basics/module.yaml")
    [finding] = pagelint.check_summary(lesson)
    assert (
        finding.problem
        == 'the "Key points" admonition is empty: fill key_points in workflows/txt2img-basics/module.yaml'
    )
    assert markdown.splitlines()[finding.line - 1] == '!!! note "Key points"'


# ---- exercises ---------------------------------------------------------------------------


def test_an_exercise_with_a_folded_solution_passes() -> None:
    assert pagelint.check_exercises(page(GOOD_TUTORIAL)) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (
            '!!! question "Exercise 1: Try"\n\n    Do it.\n\n    ??? tip "Hint"\n\n        Look.\n',
            '1: "Exercise 1: Try" has no solution: nest ??? success "Solution" inside it',
        ),
        # a solution after the exercise, not inside it, is not its solution
        (
            '!!! question "Exercise 1: Try"\n\n    Do it.\n\n??? success "Solution"\n\n    Done.\n',
            '1: "Exercise 1: Try" has no solution: nest ??? success "Solution" inside it',
        ),
        (
            '!!! question "Exercise 1: Try"\n\n    Do it.\n\n    !!! success "Solution"\n\n        Done.\n',
            '5: the solution of "Exercise 1: Try" is written !!! success: write ??? success "Solution" '
            "so it stays folded until opened",
        ),
        (
            '!!! question "Exercise 1: Try"\n\n    Do it.\n\n    ??? success "Solution"\n\n        None\n',
            '5: the solution of "Exercise 1: Try" is empty',
        ),
        (
            '??? question inline end "Exercise 2"\n\n    Do it.\n',
            '1: "Exercise 2" has no solution: nest ??? success "Solution" inside it',
        ),
    ],
)
def test_an_exercise_without_a_folded_solution_is_found(markdown: str, expected: str) -> None:
    assert problems(pagelint.check_exercises(page(markdown))) == [f"{TUTORIAL}:{expected}"]


# ---- images ------------------------------------------------------------------------------


def test_images_with_descriptive_alt_text_pass() -> None:
    markdown = "\n".join(
        [
            "# Pictures",
            "![A still life of lemons and a blue jug](lemons.png)",
            '<img src="canvas.png" alt="The ComfyUI canvas with seven nodes">',
            "[![The launch form](form.png)](launch.md)",
            "```",
            "![](in-code-is-not-an-image.png)",
            "```",
            "Inline code is not an image either: `![](x.png)`.",
        ]
    )
    assert pagelint.check_images(page(markdown)) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("![](lemons.png)", "image 'lemons.png' has no alt text: describe what it shows"),
        ("![  ](lemons.png)", "image 'lemons.png' has no alt text: describe what it shows"),
        ('<img src="canvas.png">', "image 'canvas.png' has no alt text: describe what it shows"),
        ('<img alt="" src="canvas.png">', "image 'canvas.png' has no alt text: describe what it shows"),
        (
            "![lemons.png](img/lemons.png)",
            "image 'img/lemons.png' has its file name as alt text: describe what it shows",
        ),
        ("![Lemons](lemons.png)", "image 'lemons.png' has its file name as alt text: describe what it shows"),
        ("![blue jug](blue_jug.webp)", "image 'blue_jug.webp' has its file name as alt text: describe what it shows"),
        ("[![](form.png)](launch.md)", "image 'form.png' has no alt text: describe what it shows"),
    ],
)
def test_images_without_real_alt_text_are_found(line: str, expected: str) -> None:
    assert problems(pagelint.check_images(page(f"# Pictures\n\n{line}\n"))) == [f"{TUTORIAL}:3: {expected}"]


# ---- headings ----------------------------------------------------------------------------


def test_headings_in_order_pass() -> None:
    markdown = "\n".join(
        [
            "# Title",
            "## Part",
            "### Detail",
            "#### Finer",
            "## Back up two levels is fine",
            "```bash",
            "# a comment in code is not a heading",
            "```",
            '!!! note "A note"',
            "",
            "    ### A heading in a note",
            "Setext",
            "------",
        ]
    )
    assert pagelint.check_headings(page(markdown)) == []
    assert pagelint.check_headings(page("Title\n=====\n\nText.\n\nPart\n----\n")) == []


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("Text only.\n\n## A part\n", ["1: no h1 title: start the page with '# Title'"]),
        (
            "# Title\n\n### Detail\n",
            ['3: heading "Detail" is an h3 under an h1: make it an h2 (no level skipped going down)'],
        ),
        (
            "# Title\n\n## Part\n\n#### Finer\n",
            ['5: heading "Finer" is an h4 under an h2: make it an h3 (no level skipped going down)'],
        ),
        (
            "# Title\n\n## Part\n\n# Another title\n",
            ['5: a second h1 "Another title": a page has one title; make this an h2'],
        ),
        ("## Intro\n\n# Title\n", ['1: heading "Intro" (h2) comes before the page\'s h1 title: the title comes first']),
        (
            "Title\n=====\n\n### Detail\n",
            ['4: heading "Detail" is an h3 under an h1: make it an h2 (no level skipped going down)'],
        ),
        (
            '# Title\n\n!!! note "Note"\n\n    ### In a note\n',
            ['5: heading "In a note" is an h3 under an h1: make it an h2 (no level skipped going down)'],
        ),
    ],
)
def test_headings_out_of_order_are_found(markdown: str, expected: list[str]) -> None:
    assert problems(pagelint.check_headings(page(markdown))) == [f"{TUTORIAL}:{e}" for e in expected]


# ---- link text ---------------------------------------------------------------------------


def test_descriptive_link_text_passes() -> None:
    markdown = "\n".join(
        [
            "# Links",
            "Read [the glossary](../reference/glossary.md) and [more about seeds](seeds.md).",
            '<a href="launch.md">Start ComfyUI</a>, [the runbook][runbook], <https://example.org>.',
            "[![The launch form](form.png)](launch.md)",
            "```",
            "[here](code.md)",
            "```",
            "`[here](inline-code.md)`",
            "",
            "[runbook]: ../runbook/index.md",
        ]
    )
    assert pagelint.check_link_text(page(markdown)) == []


@pytest.mark.parametrize(
    ("link", "words"),
    [
        ("[here](a.md)", "here"),
        ("[Click here](a.md)", "click here"),
        ("[this link](a.md)", "this link"),
        ("[link](a.md)", "link"),
        ("[More](a.md)", "more"),
        ("[Read more](a.md)", "read more"),
        ("[**here**](a.md)", "here"),
        ("[here.](a.md)", "here"),
        ("[ READ  MORE ](a.md)", "read more"),
        ('<a href="a.md">click here</a>', "click here"),
        ("[here][a]", "here"),
    ],
)
def test_vague_link_text_is_found(link: str, words: str) -> None:
    assert problems(pagelint.check_link_text(page(f"# Links\n\nFor that, see {link}.\n"))) == [
        f'{TUTORIAL}:3: link text "{words}" does not say where it goes: name the page or what is there'
    ]


# ---- reading grade -----------------------------------------------------------------------


def test_prose_leaves_out_what_is_not_read_as_prose() -> None:
    markdown = "\n".join(
        [
            "---",
            "title: Front matter words",
            "---",
            "# A heading is not prose",
            "Open [the glossary](https://example.org/very/long/address) and type `atelier compare --by cfg`",
            "",
            "| a table cell | another |",
            "| --- | --- |",
            "| value | value |",
            "",
            '!!! note "A note title is not prose"',
            "",
            "    The note text is.",
            "",
            "```bash",
            "echo code is not prose",
            "```",
            "<!-- a comment -->",
            "- A list item",
            "- Another one: it ends a sentence",
            "![An image's alt text](a.png)",
        ]
    )
    assert readinglevel.prose(markdown) == [
        (5, "Open the glossary and type."),
        (13, "The note text is."),
        (19, "A list item."),
        (20, "Another one: it ends a sentence."),
    ]


EASY = "Press the blue button. A picture appears. Save it in your folder. Then try a new seed and look again.\n"
HARD = (
    "Notwithstanding considerable institutional heterogeneity, computational infrastructure "
    "administrators frequently necessitate comprehensive documentation elucidating "
    "authentication, authorisation and resource-allocation methodologies, particularly "
    "whenever interdisciplinary collaborations additionally encompass experimental generative "
    "visualisation technologies.\n"
)


def test_an_easy_start_page_passes_and_reports_its_grade() -> None:
    report = pagelint.lint([page(f"# Easy\n\n{EASY}", graded=True)])
    [grade] = report.grades
    assert grade.grade <= readinglevel.GRADE_LIMIT and grade.words == 20 and grade.sentences == 4
    assert report.findings == []


def test_a_hard_start_page_fails_and_points_at_its_hardest_paragraph() -> None:
    report = pagelint.lint([page(f"# Hard\n\n{EASY}\n{HARD}", graded=True)])
    [grade] = report.grades
    assert grade.grade > readinglevel.GRADE_LIMIT and grade.hardest_line == 5
    [finding] = report.findings
    assert str(finding).startswith(
        f"{TUTORIAL}:5: reads at grade {grade.grade} (Flesch-Kincaid), above 8; "
        f"the hardest paragraph starts here (grade {grade.hardest_grade})"
    )


def test_pages_outside_start_here_are_not_graded() -> None:
    assert pagelint.lint([Page("docs/runbook/x.md", f"# Hard\n\n{HARD}")]) == pagelint.Report([], [])


# ---- the real site, and the script CI and people run -------------------------------------


def test_the_sites_pages_pass_the_lesson_linter() -> None:
    """Every page in docs/ and every lesson page made from workflows/."""
    report = pagelint.lint_site(ROOT)
    grades = ", ".join(f"{g.path} {g.grade}" for g in report.grades)
    assert report.findings == [], "\n".join(map(str, report.findings)) + f"\nreading grades: {grades}"
    assert {g.path for g in report.grades} == {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "docs/start").glob("*.md")
    }


def test_the_script_prints_findings_and_grades_and_fails_on_findings(tmp_path: Path) -> None:
    start = tmp_path / "docs" / "start"
    start.mkdir(parents=True)
    (start / "good.md").write_text(GOOD_TUTORIAL)
    script = [sys.executable, str(ROOT / "checks" / "lint-pages"), "--root", str(tmp_path)]
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    result = subprocess.run(script, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "docs/start/good.md" in result.stdout and "No findings." in result.stdout
    (start / "bad.md").write_text(GOOD_TUTORIAL.replace("Press **Queue**.", "Press [here](q.md)."))
    result = subprocess.run(script, capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert 'docs/start/bad.md:10: link text "here" does not say where it goes' in result.stdout
    assert "1 finding." in result.stdout


# ---- no terminal on the student's numbered path --------------------------------------------


def test_a_numbered_start_page_may_not_ask_for_a_terminal() -> None:
    markdown = (
        "# Keep your work safe\n\nType `atelier backup setup --cluster pegasus` and press Enter.\n\n"
        "```bash\nrclone lsd box:\n```\n\nYour pictures are in the folder `atelier`.\n\n"
        "```text\n14:30:02 Backed up 3 files.\n```\n"
    )
    numbered = Page("docs/start/backup.md", markdown, no_terminal=True)
    assert problems(pagelint.check_no_terminal(numbered)) == [
        "docs/start/backup.md:3: `atelier backup setup --cluster pegasus` is a terminal command: say what to press "
        "in the browser instead",
        "docs/start/backup.md:5: a bash block asks the student "
        "for a terminal: say what to press in the browser instead",
    ]  # a folder named `atelier`, and a log line shown as text, are not commands
    assert pagelint.check_no_terminal(Page("docs/start/compare.md", markdown)) == []  # not on the numbered path


def test_the_numbered_pages_are_read_from_the_sites_navigation_and_their_generated_parts_count_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    typed = pagelint.docs_pages(ROOT)
    assert sorted(p.path for p in typed if p.no_terminal) == sorted(
        f"docs/start/{name}.md"
        for name in (
            "cluster",
            "account",
            "sign-in",
            "launch",
            "tour",
            "first-image",
            "save",
            "backup",
            "neighbour",
            "trouble",
        )
    )
    marker = "<!-- student messages -->"
    trouble = next(p for p in typed if p.path == "docs/start/trouble.md")
    assert marker in trouble.markdown
    assert pagelint.generated_terminal_steps([trouble], ROOT) == []
    from atelier.site import plugin

    monkeypatch.setitem(plugin.MARKERS, "<!-- how to stop -->", lambda p: "| stop it | `atelier stop 123` |")
    with_command = Page(trouble.path, "# x\n\n<!-- how to stop -->\n", no_terminal=True)
    assert problems(pagelint.generated_terminal_steps([with_command], ROOT)) == [
        "docs/start/trouble.md:3: what <!-- how to stop --> makes: `atelier stop 123` is a terminal command: say "
        "what to press in the browser instead"
    ]
