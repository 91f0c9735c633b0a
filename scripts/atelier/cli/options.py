"""What several commands share: options, the session key, starting a ComfyUI, picking modules."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import click

from atelier.comfy.server import ComfyServer, find_comfyui
from atelier.hpc import slurm
from atelier.keep.schedule import Round
from atelier.lessons.modules import Module, load_module
from atelier.messages import plural  # noqa: F401  (the commands import it from here)
from atelier.project import Project, find

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def key_option(command: click.Command) -> click.Command:
    return click.option(
        "--key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="ATELIER_KEY_FILE",
        help="With --server: the file holding that session's key [env: ATELIER_KEY_FILE].",
    )(command)


def read_key(path: Path | None) -> str | None:
    """The session key, from a file so it never shows in a command line or a log."""
    return path.read_text(encoding="utf-8").strip() if path else None


# The ComfyUI a command starts, written once for every command that starts one.
COMFYUI = click.option("--comfyui", envvar="COMFYUI_DIR", help="The ComfyUI checkout [env: COMFYUI_DIR].")
PYTHON = click.option("--python", envvar="COMFYUI_PYTHON", help="The Python that runs it [env: COMFYUI_PYTHON].")
STORE = click.Path(file_okay=False, path_type=Path)


def _stacked(command: click.Command, options: list) -> click.Command:
    """The options in the order given, as --help lists them."""
    for option in reversed(options):
        command = option(command)
    return command


def server_options(command: click.Command) -> click.Command:
    """Options shared by the commands that start their own ComfyUI."""
    return _stacked(
        command,
        [
            COMFYUI,
            PYTHON,
            click.option(
                "--models", type=STORE, envvar="ATELIER_MODELS", help="The shared model store [env: ATELIER_MODELS]."
            ),
            click.option("--cpu", is_flag=True, help="Run on the CPU even where there is a GPU."),
        ],
    )


def screenshot_options(command: click.Command) -> click.Command:
    """The ComfyUI that takes the site's pictures: on the CPU, with random-weight models, unless told otherwise.

    --models does not read ATELIER_MODELS, which an install sets: the published pictures and
    their alt text must not change with where a maintainer makes them.
    """
    return _stacked(
        command,
        [
            COMFYUI,
            PYTHON,
            click.option(
                "--models", type=STORE, help="A model store with the real models (default: random-weight test models)."
            ),
            click.option("--gpu", is_flag=True, help="Let ComfyUI use the GPU (default: the CPU)."),
        ],
    )


def comfyui_install(comfyui: str | None, python: str | None) -> tuple[Path, Path]:
    """The ComfyUI to run: --comfyui/--python (or COMFYUI_DIR/COMFYUI_PYTHON), else the prefix
    that the sourced atelier.env names in ATELIER_PREFIX."""
    return find_comfyui(comfyui, python, os.environ.get("ATELIER_PREFIX"))


def pinned_nodes() -> tuple[str, ...]:
    """The semester's custom nodes ComfyUI may load, as `atelier install` names them in atelier.env."""
    return tuple(os.environ.get("ATELIER_CUSTOM_NODES", "").split())


def make_server(
    workdir: Path, comfyui: str | None, python: str | None, models: Path | None, cpu: bool, port: int = 0
) -> ComfyServer:
    checkout, interpreter = comfyui_install(comfyui, python)
    return ComfyServer(checkout, interpreter, workdir, port=port, cpu=cpu, models=models, custom_nodes=pinned_nodes())


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


def say_round(done: Round) -> bool:
    """One backup round on one line, the same for `serve` and `backup`; False when it failed."""
    if not done.result:
        click.echo(f"{time_stamp()} Backup failed: {done.error}")
        return False
    result = done.result
    waiting = f"; {plural(result.waiting, 'file')} still being written, next time" if result.waiting else ""
    kept = done.kept
    also = (
        (
            f" Saved workflows and settings: {plural(kept.copied, 'new or changed file')} to {kept.where} "
            f"({kept.current} already there)."
        )
        if kept
        else ""
    )
    click.echo(
        f"{time_stamp()} Backed up {plural(result.copied, 'new or changed file')} to {result.where} "
        f"({result.current} already there{waiting}) in {result.seconds + (kept.seconds if kept else 0):.1f} s.{also}"
    )
    if done.error:
        click.echo(f"{time_stamp()} Backup of saved workflows and settings failed: {done.error}")
        return False
    return True


def job_deadline(margin: float) -> float | None:
    """For a command a Slurm job runs until its end: Slurm's SIGTERM leaves through `finally`
    (so the last backup and ComfyUI's stop still run), and it stops by itself `margin`
    seconds before the job's time limit (the time.time() returned; None outside a job)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return slurm.stop_time(os.environ.get("SLURM_JOB_ID"), margin=margin)
