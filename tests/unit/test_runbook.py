"""Every `atelier` command is documented in the Runbook, so a maintainer never meets one only in --help."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from atelier.cli import cli

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook"
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def command_names(command: click.Command = cli, name: str = "atelier") -> list[str]:
    """The full name of every command and subcommand under `command`, as a maintainer types it."""
    names: list[str] = []
    if isinstance(command, click.Group):
        for sub_name, sub in sorted(command.commands.items()):  # hidden ones too: kept from students only
            names.append(f"{name} {sub_name}")
            names += command_names(sub, f"{name} {sub_name}")
    return names


def code_text(markdown: str) -> str:
    """Only what a page shows as code: fenced blocks and inline code spans."""
    blocks = [match.group(2) for match in FENCE.finditer(markdown)]
    prose = FENCE.sub("", markdown)
    return "\n".join(blocks + [match.group(2) for match in SPAN.finditer(prose)])


def mentions(code: str, command: str) -> bool:
    """Whether `command` is typed in `code`; a path before it (.venv/bin/atelier) and quotes are allowed."""
    first, *rest = command.split()
    pattern = rf"(?<![\w-]){first}[\"']?" + "".join(rf"(?:\s|\\)+{re.escape(word)}" for word in rest) + r"(?![\w-])"
    return re.search(pattern, code) is not None


def undocumented(pages: dict[str, str], commands: list[str]) -> list[str]:
    code = {name: code_text(text) for name, text in pages.items()}
    return [command for command in commands if not any(mentions(text, command) for text in code.values())]


def test_the_command_tree_is_walked_to_the_leaves() -> None:
    names = command_names()
    for expected in (
        "atelier lint",
        "atelier models",
        "atelier models fetch",
        "atelier ood deploy",
        "atelier backup",
        "atelier backup setup",
        "atelier ledger scan",
    ):
        assert expected in names


def test_only_code_counts_as_documenting_a_command() -> None:
    page = "\n".join(
        [
            "Run atelier lint in prose: not code.",
            "",
            "```bash",
            ".venv/bin/atelier pin --get semester",
            '"$ATELIER_PREFIX/atelier-venv/bin/atelier" check --real',
            "atelier models \\",
            "    fetch --all",
            "```",
            "",
            "Inline: `atelier ood deploy DEST` and `atelier backup`.",
        ]
    )
    commands = [
        "atelier lint",
        "atelier pin",
        "atelier check",
        "atelier models fetch",
        "atelier ood deploy",
        "atelier backup",
        "atelier backup setup",
        "atelier run",
    ]
    assert undocumented({"page.md": page}, commands) == ["atelier lint", "atelier backup setup", "atelier run"]


def test_a_longer_name_does_not_stand_in_for_a_shorter_one() -> None:
    assert not mentions("atelier runbook", "atelier run")
    assert not mentions("atelier-venv/bin/atelier-check", "atelier check")
    assert mentions("atelier check --real", "atelier check")


def test_every_command_is_in_the_runbook() -> None:
    pages = {path.name: path.read_text(encoding="utf-8") for path in sorted(RUNBOOK.glob("*.md"))}
    missing = undocumented(pages, command_names())
    assert not missing, (
        f"These commands are not in any Runbook page: {', '.join(missing)}. Document each one, with real usage "
        f"and options (see 'atelier <command> --help'), in the page of {RUNBOOK.relative_to(RUNBOOK.parents[1])}/ "
        "that fits it best, inside backticks or a code block."
    )


def test_step_8_says_what_the_lesson_check_script_prints_line_by_line(tmp_path: Path) -> None:
    from atelier.site.pages.runbook import lesson_check_log

    script = Path(__file__).resolve().parents[2] / "checks" / "lesson-check.sbatch"
    shown = lesson_check_log(script, 13).splitlines()
    text = script.read_text()
    assert len(shown) == text.count("\necho ") + text.count("\nnvidia-smi") + text.count('\n"$atelier" ')
    assert shown[0] == "1. `<date>: lesson check on <node> in <the checkout>`"
    assert shown[-1].startswith("6. `<date>: done; report in check-report-<job id>/")
    assert "(13 of them)" in shown[3]
    changed = tmp_path / "check.sbatch"
    changed.write_text(text + '"$atelier" bench --gpu\n')
    with pytest.raises(ValueError, match="no description of what 'atelier bench' prints"):
        lesson_check_log(changed, 13)
