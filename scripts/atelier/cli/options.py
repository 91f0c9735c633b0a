"""The options several commands share, each defined once: one spelling, one meaning.

As pip's cmdoptions: a command takes the option from here, never spells it again, so its
help, default and environment variable cannot drift apart between commands
(tests/unit/test_options.py walks every command to hold that). What is not an option lives
beside: lookup.py (the project, modules by name or folder), comfyui.py (the ComfyUI a
command starts), joblog.py (what long Slurm jobs print).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from atelier.cli.comfyui import ComfyChoice

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

Decorator = Callable[[Any], Any]
# What a path option or argument names, so each reads as one line: a file, a folder, one already there.
FILE = click.Path(dir_okay=False, path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)
EXISTING_FOLDER = click.Path(file_okay=False, exists=True, path_type=Path)

# Which cluster: the profile's partitions, GPUs, hours, folders and backup remote.
CLUSTER = click.option(
    "--cluster",
    default="local",
    show_default=True,
    envvar="ATELIER_CLUSTER",
    help="The cluster profile: a name such as pegasus, or a profile file [env: ATELIER_CLUSTER].",
)
# The dashboard's form offers several clusters: each named, as ATELIER_CLUSTER is the one this shell is on.
FORM_CLUSTERS = click.option(
    "--cluster",
    "clusters",
    multiple=True,
    default=("cerberus", "pegasus"),
    show_default=True,
    help="The cluster profiles the form offers (repeatable): every cluster the dashboard reaches, so "
    "named here, never taken from ATELIER_CLUSTER, the one cluster this shell is on.",
)
GPU = click.option("--gpu", help="The GPU choice from the cluster profile (default: the profile's).")
HOURS = click.option(
    "--hours",
    type=float,
    help="Hours the session, or each task of a sweep, may run (default: the profile's; a sweep run "
    "again: its last round's).",
)

# A session: where its work goes and is kept (serve runs it; launch and the dashboard start serve).
OUTPUTS = click.option(
    "--outputs",
    type=FOLDER,
    help="The outputs folder, where pictures and other outputs are saved (default: serve: WORKDIR/output; "
    "launch and backup: the cluster profile's).",
)
USER_FOLDER = click.option(
    "--user-folder",
    help="The student's own ComfyUI folder, kept between sessions: saved workflows, settings and uploads "
    "($HOME and $USER are filled in). Default: launch: the profile's user_folder; serve: none, the "
    "session's folder holds them.",
)

# A knob's value, as a lesson page names it.
SET = click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NODE.INPUT=VALUE",
    help='A knob set to a value before running, e.g. --set "KSampler.seed=4" (repeatable).',
)

# A lesson module, by its name or its folder, alike in every command (lookup.module_folder).
_MODULE_HELP = "A lesson module, by name (txt2img-basics) or folder (workflows/txt2img-basics)"
MODULE = click.option("--module", "module_name", metavar="NAME", help=_MODULE_HELP + ".")
MODULES = click.option("--module", "names", metavar="NAME", multiple=True, help=_MODULE_HELP + " (repeatable).")

# A tool of the semester beside ComfyUI (or ComfyUI itself), by its folder in tools/.
TOOL = click.option(
    "--tool",
    "tool_name",
    metavar="NAME",
    help="One of the semester's tools, by its folder in tools/ (invokeai, ...), instead of ComfyUI.",
)

# A running ComfyUI a command talks to instead of starting one.
SERVER = click.option("--server", help="A running ComfyUI to use, e.g. http://127.0.0.1:8188 (default: start one).")
KEY_FILE = click.option(
    "--key-file",
    type=FILE,
    envvar="ATELIER_KEY_FILE",
    help="With --server: the file holding that session's key [env: ATELIER_KEY_FILE].",
)

# The ComfyUI a command starts (comfyui.ComfyChoice, which server_options below hands the command).
COMFYUI = click.option("--comfyui", envvar="COMFYUI_DIR", help="The ComfyUI checkout [env: COMFYUI_DIR].")
PYTHON = click.option("--python", envvar="COMFYUI_PYTHON", help="The Python that runs it [env: COMFYUI_PYTHON].")
MODELS = click.option(
    "--models", type=FOLDER, envvar="ATELIER_MODELS", help="The shared model store [env: ATELIER_MODELS]."
)
CPU = click.option("--cpu", is_flag=True, help="Run on the CPU even where there is a GPU.")
COMFYUI_OPTION = click.option(
    "--comfyui-option",
    "options",
    multiple=True,
    help="A speed option for ComfyUI, e.g. --comfyui-option=--fast (repeatable; the profile's comfyui_args).",
)
SHARE_GB = click.option(
    "--share-gb",
    type=click.IntRange(min=1),
    help="On a share of a GPU that Slurm does not fence (a shard): keep ComfyUI within this many GB of it "
    "(the profile's memory_gb of that choice).",
)
# The site's pictures: not ATELIER_MODELS, which an install sets, nor the GPU, unless asked,
# so the published pictures and their alt text do not change with where they are made.
REAL_MODELS = click.option(
    "--real-models",
    "models",
    type=FOLDER,
    help="A model store with the real models (default: random-weight test models; never ATELIER_MODELS).",
)
USE_GPU = click.option("--use-gpu", is_flag=True, help="Let ComfyUI use the GPU (default: the CPU).")

# The semester pin: what ComfyUI, frontend, custom nodes and packages a semester runs.
PIN = click.option("--pin", "pin_path", type=FILE, help="The semester pin (default: the project's workflows/pin.yaml).")

# The shared model store that `atelier models` fills and checks.
STORE = click.option(
    "--store", type=FOLDER, envvar="ATELIER_MODELS", required=True, help="The shared model store [env: ATELIER_MODELS]."
)


def stacked(*options: Decorator) -> Decorator:
    """Several options as one decorator, in the order given, as --help lists them."""

    def apply(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def choosing_comfyui(*options: Decorator, choose: Callable[..., ComfyChoice] = ComfyChoice) -> Decorator:
    """Options that say which ComfyUI a command starts, as one decorator: the command is handed one
    `comfy` (a ComfyChoice) in their place, made by `choose` from the values its parameters name.

    --help lists the options as `stacked` would; the command's other parameters pass untouched.
    """
    names = tuple(inspect.signature(choose).parameters)

    def apply(command: Any) -> Any:
        @functools.wraps(command)  # keeps the name, docstring and the options click has gathered so far
        def with_choice(*args: Any, **values: Any) -> Any:
            comfy = choose(**{name: values.pop(name) for name in names})
            return command(*args, comfy=comfy, **values)

        return stacked(*options)(with_choice)

    return apply


def _for_pictures(comfyui: str | None, python: str | None, models: Path | None, use_gpu: bool) -> ComfyChoice:
    return ComfyChoice(comfyui, python, models, cpu=not use_gpu)


server_options = choosing_comfyui(COMFYUI, PYTHON, MODELS, CPU)  # the commands that start their own ComfyUI
screenshot_options = choosing_comfyui(COMFYUI, PYTHON, REAL_MODELS, USE_GPU, choose=_for_pictures)  # site pictures
# Only which ComfyUI (testmodels runs its Python to make models; it starts none).
install_options = choosing_comfyui(COMFYUI, PYTHON, choose=lambda comfyui, python: ComfyChoice(comfyui, python))
