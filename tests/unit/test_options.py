"""An option spelled the same means the same in every command: one help, one default, one variable.

Shared options are defined once (atelier/cli/options.py); this walks every command so that a
second definition with another meaning cannot come back unnoticed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import click

from atelier.cli import cli

# Spellings whose meaning is by nature each command's own: where it writes, how long it waits,
# what it would do. Their help and default may differ; none may read an environment variable.
PER_COMMAND = {"--out", "--timeout", "--dry-run", "--smoke", "--workdir"}

# A command whose option shares a spelling with another meaning, on purpose, and why.
DIFFERENT = {
    ("--cluster", "ood deploy"): "several profiles, the form's choices: named, never ATELIER_CLUSTER",
    (
        "--cluster",
        "class plan",
    ): "several profiles to compare (default: every cluster students use), never ATELIER_CLUSTER",
    ("--server", "nodes"): "reads a ComfyUI that must already run (default: the usual local one); starts none",
    ("--cpu", "pin"): "with --refresh: lock PyTorch's CPU build, which install --cpu installs",
    ("--cpu", "install"): "PyTorch's CPU build, not where ComfyUI runs",
    ("--python", "pin"): "with --refresh: the Python the install's environments are made from",
    ("--python", "install"): "the Python the environments are made from, not COMFYUI_PYTHON",
    ("--source", "pin"): "with --refresh, for the lock: no cluster profile to fall back on",
    ("--node-source", "pin"): "with --refresh, for the lock: no cluster profile to fall back on",
    ("--index-url", "pin"): "with --refresh, for the lock: no cluster profile to fall back on",
    ("--torch-index", "pin"): "with --refresh, for the lock: no cluster profile to fall back on",
    ("--tool", "install"): "the tools to install alone, into a prefix installed before (repeatable)",
    ("--tool", "pin"): "with --refresh: the tools to lock alone (repeatable)",
}


def commands(group: click.Command = cli, path: str = "") -> Iterator[tuple[str, click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from commands(command, f"{path} {name}".strip())


def spellings() -> dict[str, dict[str, click.Option]]:
    """Every option spelling, with the commands that take it."""
    found: dict[str, dict[str, click.Option]] = defaultdict(dict)
    for path, command in commands():
        for param in command.params:
            if isinstance(param, click.Option):
                for spelling in param.opts + param.secondary_opts:
                    found[spelling][path] = param
    return found


def meaning(option: click.Option) -> tuple[object, ...]:
    """What a reader sees: help (how many times it may be given aside), default, variable, a flag or not."""
    return ((option.help or "").replace(" (repeatable)", ""), option.default, option.envvar, option.is_flag)


def test_an_option_spelled_alike_means_the_same_in_every_command() -> None:
    differ = {}
    for spelling, users in spellings().items():
        if spelling in PER_COMMAND:
            continue
        meanings = {path: meaning(option) for path, option in users.items() if (spelling, path) not in DIFFERENT}
        if len(set(meanings.values())) > 1:
            differ[spelling] = meanings
    assert differ == {}, "define the option once in atelier/cli/options.py and use it in each command"


def test_a_command_s_own_spellings_read_no_environment_variable() -> None:
    """An option whose meaning is each command's own must not pick up another command's setting."""
    readers = [
        f"atelier {path} {spelling}"
        for spelling, users in spellings().items()
        for path, option in users.items()
        if (spelling in PER_COMMAND or (spelling, path) in DIFFERENT) and option.envvar
    ]
    assert readers == []


def test_every_exception_still_exists() -> None:
    """A reason kept for an option that is gone would hide the next one."""
    found = spellings()
    assert [key for key in DIFFERENT if key[1] not in found.get(key[0], {})] == []
    assert [spelling for spelling in PER_COMMAND if len(found.get(spelling, {})) < 2] == []


def test_one_spelling_for_a_lesson_module_and_for_a_profile_gpu() -> None:
    """--module, repeatable where a command takes several; --gpu is the profile's GPU choice, never a switch."""
    found = spellings()
    assert "--modules" not in found
    assert {path for path, option in found["--gpu"].items() if option.is_flag} == set()
    assert found["--key-file"].keys() == {"run", "check", "nodes"}  # a running server's key; serve's is its own
