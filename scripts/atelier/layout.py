"""Where things are on disk: an install's prefix, and one session's folder.

`atelier install` makes the prefix, `serve` and the lesson check look inside it, jobs
source its atelier.env; `serve` fills a session's folder, and `launch`, `status`, the
Open OnDemand app and the tests read it. Each name is written once, here, and the OOD
job script gets the ones it needs from the site file, so no reader can drift from the
writer.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = Path("gate") / "token"  # a session's key, relative to its folder (the OOD app writes it there)
# In ComfyUI's user folder: the one person's settings, and the Workflows panel.
SETTINGS = Path("default") / "comfy.settings.json"
WORKFLOWS = Path("default") / "workflows"
# A student's folders unless a cluster profile names others ($HOME: filled in for whoever runs it).
USER_FOLDER = "$HOME/atelier-comfyui"  # their ComfyUI folder, kept between sessions
OUTPUTS = "$HOME/atelier-outputs"  # where a session saves pictures unless the form says otherwise


def expand_home(text: str) -> Path:
    """A profile's folder with $HOME and $USER filled in, for the person running this: a job
    started with --export NONE has no shell of ours to do it, and the dashboard's Box app
    runs as the student."""
    for name, value in (("HOME", str(Path.home())), ("USER", getpass.getuser())):
        text = text.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return Path(text).expanduser()


@dataclass(frozen=True)
class Layout:
    """An install prefix: the pinned ComfyUI and its Python, atelier's own Python, the model store."""

    prefix: Path
    models: Path  # the shared model store: <prefix>/models unless a cluster profile names another

    @classmethod
    def at(cls, prefix: Path, models: Path | None = None) -> Layout:
        """A prefix as a maintainer types it (`~/x`, relative): made absolute, as every job needs it."""
        prefix = prefix.expanduser().absolute()
        return cls(prefix, (models.expanduser().absolute() if models else prefix / "models"))

    @classmethod
    def of(cls, prefix: Path) -> Layout:
        """A prefix exactly as a cluster profile names it (it may hold $HOME, for the job's shell)."""
        return cls(prefix, prefix / "models")

    @property
    def comfyui(self) -> Path:
        """The ComfyUI checkout at the pinned commit."""
        return self.prefix / "ComfyUI"

    @property
    def custom_nodes(self) -> Path:
        """Each pinned custom node, at its commit, in a folder of its own."""
        return self.comfyui / "custom_nodes"

    @property
    def model_paths(self) -> Path:
        """Where this ComfyUI finds models (the store)."""
        return self.comfyui / "extra_model_paths.yaml"

    @property
    def comfyui_venv(self) -> Path:
        """The Python that runs ComfyUI, with the pinned frontend."""
        return self.prefix / "comfyui-venv"

    @property
    def comfyui_python(self) -> Path:
        return self.python(self.comfyui_venv)

    def tool_venv(self, name: str) -> Path:
        """The Python environment of a tool beside ComfyUI (InvokeAI, a Gradio app): one each."""
        return self.prefix / f"{name}-venv"

    @property
    def atelier_venv(self) -> Path:
        """Atelier itself, and the rclone beside it."""
        return self.prefix / "atelier-venv"

    @property
    def atelier(self) -> Path:
        """The atelier command jobs run, by this absolute path (OOD's jobs get no PATH of ours)."""
        return self.atelier_venv / "bin" / "atelier"

    @property
    def env_file(self) -> Path:
        """What jobs and a maintainer's shell source: where this install and its project are."""
        return self.prefix / "atelier.env"

    @property
    def state(self) -> Path:
        """Stamps of finished install steps, and comfy-cli's own settings."""
        return self.prefix / ".install"

    @property
    def install_settings(self) -> Path:
        """How this prefix was installed (source, indexes, build, Python): a re-run reads it."""
        return self.state / "settings.json"

    @property
    def logs(self) -> Path:
        """One log per install step."""
        return self.prefix / "install-logs"

    @staticmethod
    def python(venv: Path) -> Path:
        return venv / "bin" / "python"

    def tree(self) -> list[tuple[str, str]]:
        """(path in the prefix, what it holds), in the order a maintainer reads them; folders end in /."""
        rows = described(
            self.prefix,
            self,
            [
                "comfyui/",
                "custom_nodes/",
                "model_paths",
                "comfyui_venv/",
                "atelier_venv/",
                "atelier",
                "env_file",
                "logs/",
                "state/",
            ],
        )
        store = ("models/", "The shared model store, unless the cluster profile names another")
        tools = ("<tool>-venv/", "Each tool beside ComfyUI in a Python environment of its own (InvokeAI, ...)")
        return rows[:4] + [tools] + rows[4:6] + [store] + rows[6:]


@dataclass(frozen=True)
class SessionFolder:
    """One session's folder: ComfyUI's own folders, the key, where it answers, its logs."""

    path: Path

    @property
    def key_file(self) -> Path:
        """The session key, readable by its owner only (mode 600)."""
        return self.path / KEY_FILE

    @property
    def connection(self) -> Path:
        """Where ComfyUI answers (host, port) and where outputs go, once it does."""
        return self.path / "connection.json"

    @property
    def comfyui_log(self) -> Path:
        """ComfyUI's own log, tracebacks included."""
        return self.path / "comfyui.log"

    @property
    def job_log(self) -> Path:
        """What the Slurm job printed, for a session `atelier launch` started."""
        return self.path / "job.log"

    @property
    def job_script(self) -> Path:
        """The batch script `atelier launch` submitted."""
        return self.path / "session.sbatch"

    @property
    def model_paths(self) -> Path:
        """Where this session's ComfyUI finds models and the login gate."""
        return self.path / "extra_model_paths.yaml"

    @property
    def input(self) -> Path:
        """Pictures the student uploads to ComfyUI."""
        return self.path / "input"

    @property
    def output(self) -> Path:
        """Outputs, when the session was given no outputs folder of its own."""
        return self.path / "output"

    @property
    def user(self) -> Path:
        """ComfyUI's user folder and database, where the session was given no student's folder"""
        return self.path / "user"

    @property
    def temp(self) -> Path:
        """ComfyUI's previews, emptied when it starts."""
        return self.path / "temp"

    @property
    def workflows(self) -> Path:
        """The Workflows panel, in that case: the lesson's workflow, and what the student saves"""
        return self.user / WORKFLOWS

    def tree(self) -> list[tuple[str, str]]:
        """(path in the folder, what it holds), in the order a maintainer reads them; folders end in /."""
        return described(
            self.path,
            self,
            [
                "comfyui_log",
                "job_log",
                "connection",
                "key_file",
                "job_script",
                "model_paths",
                "input/",
                "output/",
                "user/",
                "workflows/",
                "temp/",
            ],
        )


@dataclass(frozen=True)
class SweepFolder:
    """One sweep's folder: its plan, a record per cell, each task's log, and every output."""

    path: Path

    @property
    def plan(self) -> Path:
        """The grid, the lesson, and each round of tasks submitted (JSON)"""
        return self.path / "sweep.json"

    @property
    def lesson(self) -> Path:
        """The lesson's module folder (or workflow) as it was when the sweep started"""
        return self.path / "lesson"

    @property
    def cells(self) -> Path:
        """One small JSON file per cell made or failed, written once its outputs are whole"""
        return self.path / "cells"

    def cell_record(self, cell_id: str) -> Path:
        return self.cells / f"{cell_id}.json"

    @property
    def outputs(self) -> Path:
        """Every output, one folder per cell, and the ledger of their settings"""
        return self.path / "outputs"

    @property
    def comparison(self) -> Path:
        """The contact sheet and workbook, made when the sweep ends"""
        return self.path / "comparison"

    @property
    def logs(self) -> Path:
        """Each round's batch script, and what each of its tasks printed"""
        return self.path / "logs"

    def job_script(self, round_no: int) -> Path:
        return self.logs / f"round-{round_no}.sbatch"

    def task_log(self, round_no: int, task: int | str) -> Path:
        """`task` may be Slurm's `%a`, for the batch script's --output."""
        return self.logs / f"round-{round_no}-task-{task}.log"

    def comfyui_log(self, round_no: int, task: int) -> Path:
        """ComfyUI's own log of one task, copied from the node's disk when the task ends."""
        return self.logs / f"round-{round_no}-task-{task}-comfyui.log"

    def tree(self) -> list[tuple[str, str]]:
        """(path in the folder, what it holds), in the order a maintainer reads them; folders end in /."""
        return described(self.path, self, ["plan", "lesson/", "cells/", "outputs/", "comparison/", "logs/"])


def described(root: Path, layout: object, names: list[str]) -> list[tuple[str, str]]:
    """Each named path relative to `root` (a name ending in / is a folder), with its property's
    docstring: the trees the Runbook shows are made from the code that uses the paths."""
    rows = []
    for name in names:
        attribute = name.rstrip("/")
        doc = (getattr(type(layout), attribute).__doc__ or "").split("\n")[0].strip().rstrip(".")
        path = getattr(layout, attribute).relative_to(root).as_posix()
        rows.append((path + ("/" if name.endswith("/") else ""), doc))
    return rows
