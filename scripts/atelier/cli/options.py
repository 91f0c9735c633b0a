"""What several commands share: options, the session key, starting a ComfyUI, picking modules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from atelier.comfy.server import ComfyServer, find_comfyui
from atelier.lessons.modules import Module, load_module
from atelier.project import Project, find

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def key_option(command: click.Command) -> click.Command:
    return click.option(
        "--key-file", type=click.Path(dir_okay=False, path_type=Path), envvar="ATELIER_KEY_FILE",
        help="With --server: the file holding that session's key [env: ATELIER_KEY_FILE].",
    )(command)


def read_key(path: Path | None) -> str | None:
    """The session key, from a file so it never shows in a command line or a log."""
    return path.read_text(encoding="utf-8").strip() if path else None


def server_options(command: click.Command) -> click.Command:
    """Options shared by the commands that start their own ComfyUI."""
    for option in reversed([
        click.option("--comfyui", envvar="COMFYUI_DIR", help="The ComfyUI checkout [env: COMFYUI_DIR]."),
        click.option("--python", envvar="COMFYUI_PYTHON", help="The Python that runs it [env: COMFYUI_PYTHON]."),
        click.option("--models", type=click.Path(file_okay=False, path_type=Path), envvar="ATELIER_MODELS",
                     help="The shared model store [env: ATELIER_MODELS]."),
        click.option("--cpu", is_flag=True, help="Run on the CPU (no GPU)."),
    ]):
        command = option(command)
    return command


def make_server(workdir: Path, comfyui: str | None, python: str | None, models: Path | None, cpu: bool,
                 port: int = 0) -> ComfyServer:
    checkout, interpreter = find_comfyui(comfyui, python)
    return ComfyServer(checkout, interpreter, workdir, port=port, cpu=cpu, models=models)


def project() -> Project:
    """The project this command works on: the command line is the one place that looks for it."""
    return find(Path.cwd(), os.environ.get("ATELIER_PROJECT"))


def module_folder(name: str) -> Path:
    """A module by folder path, by name in the folder the job runs in (the OOD app ships its
    lessons in every session's folder), or by name under the project's workflows/."""
    for folder in (Path(name), Path("workflows") / name):
        if (folder / "module.yaml").is_file():
            return folder
    return project().workflows / name


def pick_modules(names: tuple[str, ...]) -> list[Module]:
    found = project()
    if not names:
        return found.modules
    known = {m.slug: m for m in found.modules}
    return [known[n] if n in known else load_module(found.workflows / n) for n in names]


def time_stamp() -> str:
    """Job logs carry a time on each line."""
    return time.strftime("%H:%M:%S")
