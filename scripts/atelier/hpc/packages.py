"""The package lock: every Python package of a semester's environments, by version and sha256.

The semester pin (`workflows/pin.yaml`) fixes ComfyUI, its frontend and custom nodes by
commit, but their requirement files name ranges (`transformers>=4.37.2`), so two installs
a week apart would get different packages. The package lock closes that gap: one file per
environment and build (`workflows/requirements/comfyui-cuda.txt`, `comfyui-cpu.txt`,
`atelier.txt`), in pip's own requirements format with `--hash` on every line, installed
with `--require-hashes --no-deps` so pip can neither add nor change a package.

Design: the lock is made by pip itself (`pip install --dry-run --report`), run by a scratch
environment of the Python that will make the prefix's environments, against the site's
index; ComfyUI's and the custom nodes' requirement files are read from their repositories
at the pinned commits. A header line holds what the lock was made for (the pin's commits,
Python, platform, build, index), so install can refuse a lock made for another pin instead
of installing something else. A hash belongs to one wheel, so a lock holds one platform:
a site on another one makes its own with `atelier pin --refresh`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from atelier.lessons.pin import Pin
from atelier.messages import AtelierError
from atelier.tools.declaration import Tool

FOLDER = "requirements"  # beside pin.yaml
HEADER = "# atelier-lock: "
VARIANTS = ("cuda", "cpu")
FRONTEND_PACKAGE = "comfyui-frontend-package"
# PyTorch's three packages, by the versions DESIGN.md measured with every node type (the
# audio nodes need torchaudio). The CPU build carries its local tag: pip's == would also
# accept a CUDA build, and the tag is how the build is told apart.
TORCH = {
    "cuda": ("torch==2.9.1", "torchvision==0.24.1", "torchaudio==2.9.1"),
    "cpu": ("torch==2.9.1+cpu", "torchvision==0.24.1+cpu", "torchaudio==2.9.1+cpu"),
}
# PyPI's Linux torch 2.9.1 is the CUDA 12.8 build; the CPU build is only on PyTorch's own index.
TORCH_INDEX = {"cuda": None, "cpu": "https://download.pytorch.org/whl/cpu"}
# Imported by the pinned ComfyUI (app/frontend_management.py) but missing from its
# requirements.txt: without it ComfyUI 0.3.64 exits at start.
UNLISTED = ("requests",)
NO_TELEMETRY = {"DO_NOT_TRACK": "1", "COMFY_NO_TELEMETRY": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Index:
    """Where pip finds packages: the site's index, PyTorch's, or a folder of wheels.

    None everywhere means pip's own settings (pip.conf, PIP_INDEX_URL) decide: nothing is
    put on pip's command line that would override them.
    """

    package_index: str | None = None
    torch_index: str | None = None
    wheelhouse: Path | None = None

    def pip_options(self) -> list[str]:
        if self.wheelhouse:
            return ["--no-index", "--find-links", str(self.wheelhouse)]
        options = ["--index-url", self.package_index] if self.package_index else []
        return options + (["--extra-index-url", self.torch_index] if self.torch_index else [])


@dataclass(frozen=True)
class Made:
    """What a lock was made for, written into its header."""

    variant: str
    python: str  # major.minor
    platform: str  # e.g. linux-x86_64
    comfyui_commit: str = ""
    nodes: dict[str, str] = field(default_factory=dict)  # repository: commit
    torch_index: str | None = None
    made: str = ""
    tool: str = ""  # a tool's lock: the pin's requirement it was made for (invokeai==6.14.2)


@dataclass(frozen=True)
class PackageLock:
    path: Path
    made: Made
    pins: dict[str, str]  # canonical name: exact version (local tag kept)

    def version(self, name: str) -> str | None:
        return self.pins.get(canonical(name))


def lock_file(pin_path: Path, environment: str) -> Path:
    """`comfyui-cuda`, `comfyui-cpu` or `atelier`: the lock file beside the semester pin."""
    return pin_path.parent / FOLDER / f"{environment}.txt"


def comfyui_environment(cpu: bool) -> str:
    return f"comfyui-{'cpu' if cpu else 'cuda'}"


def tool_environment(tool: Tool, cpu: bool) -> str:
    """A tool's lock: one per build when it runs on PyTorch (`invokeai-cuda`), else one (`rembg`)."""
    return f"{tool.name}-{'cpu' if cpu else 'cuda'}" if tool.torch else tool.name


def tool_requirements(tool: Tool, pin: Pin, variant: str) -> list[str]:
    """What a tool's environment is resolved from: its pinned package, and the semester's PyTorch if it runs on it
    (torch and torchvision: the same build as ComfyUI's, so a site downloads one)."""
    return [pin.tools[tool.name], *(TORCH[variant][:2] if tool.torch else ())]


def read(path: Path) -> PackageLock:
    """A lock file, refused in plain words when missing or not one of ours."""
    if not path.is_file():
        raise AtelierError("packages-lock-missing", file=path)
    made: Made | None = None
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(HEADER):
            made = Made(**json.loads(line.removeprefix(HEADER)))
        elif line and not line.startswith((" ", "#")):
            name, sep, version = line.split(" ", 1)[0].partition("==")
            if not sep:
                raise AtelierError("packages-lock-line", file=path, line=number, text=line)
            pins[canonical(name)] = version
    if made is None:
        raise AtelierError("packages-lock-line", file=path, line=1, text="(no '# atelier-lock:' header)")
    return PackageLock(path, made, pins)


def check_matches(lock: PackageLock, pin: Pin, python: str, tool: str = "") -> None:
    """The package lock must be made from this pin, for this Python, or install would lie; a tool's lock
    from the requirement the pin names for `tool`."""
    wanted = {node.repository: node.commit for node in pin.custom_nodes}
    if lock.made.comfyui_commit and (lock.made.comfyui_commit != pin.comfyui_commit or lock.made.nodes != wanted):
        raise AtelierError("packages-lock-stale", file=lock.path)
    if tool and lock.made.tool != pin.tools.get(tool):
        raise AtelierError("packages-lock-stale", file=lock.path)
    if lock.made.python != python:
        raise AtelierError("packages-lock-python", file=lock.path, made=lock.made.python, python=python)


def installed(venv: Path) -> dict[str, str]:
    """{canonical name: version} in `venv`, read from dist-info folders, local tags kept."""
    found = {}
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[canonical(name)] = version
    return found


def torch_mismatch(venv: Path, lock: PackageLock) -> list[str]:
    """PyTorch packages whose installed build differs from the lock's (`2.9.1+cpu` is not `2.9.1`)."""
    have = installed(venv)
    return [
        f"{name} {have[name]} (the lock says {lock.pins[name]})"
        for name in ("torch", "torchvision", "torchaudio")
        if name in have and name in lock.pins and have[name] != lock.pins[name]
    ]


def differences(venv: Path, lock: PackageLock, own: Iterable[str] = ()) -> list[str]:
    """Every package installed but not locked, locked but missing, or at another version.

    pip, setuptools and wheel come with the environment itself; `own` names packages the
    project installs from its own folder (atelier).
    """
    have = installed(venv)
    ignore = {"pip", "setuptools", "wheel", *(canonical(name) for name in own)}
    lines = []
    for name in sorted(set(have) | set(lock.pins)):
        if name in ignore:
            continue
        if name not in lock.pins:
            lines.append(f"{name} {have[name]} is installed but not in the lock")
        elif name not in have:
            lines.append(f"{name} {lock.pins[name]} is in the lock but not installed")
        elif have[name] != lock.pins[name]:
            lines.append(f"{name} is {have[name]}, the lock says {lock.pins[name]}")
    return lines


def remote_git(*args: str) -> subprocess.CompletedProcess[str]:
    """git talking to a source: never waits for a password prompt, never reads the terminal."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL
    )


def fetch_commit(what: str, source: str, commit: str, repo: Path) -> None:
    """Fetch one commit of `source` into the git repository `repo` (made if missing), nothing else;
    a source without that commit is said plainly, naming `what` it is."""
    if not repo.exists():
        subprocess.run(["git", "init", "-q", str(repo)], check=True, capture_output=True)
    fetched = remote_git("-C", str(repo), "fetch", "-q", "--depth", "1", "--", source, commit)
    if fetched.returncode != 0:
        raise AtelierError(
            "install-source-commit", what=what, source=source, commit=commit, reason=last_line(fetched.stderr)
        )


def _show(repo: Path, commit: str, path: str) -> str | None:
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


def requirement_text(what: str, source: str, commit: str, path: str, scratch: Path) -> str:
    """A file of a git repository at a commit, fetched alone (no checkout)."""
    local = Path(source.removeprefix("file://"))
    if local.is_dir() and (text := _show(local, commit, path)) is not None:
        return text  # a clone on this host that holds the commit: read the file where it is
    repo = scratch / re.sub(r"[^A-Za-z0-9]+", "-", source)[-60:]
    fetch_commit(what, source, commit, repo)
    return _show(repo, commit, path) or ""  # a node without requirements.txt needs nothing


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no reason given"


def _requirement_lines(text: str) -> list[str]:
    """Requirement lines, without comments, blanks or pip options."""
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def wanted(pin: Pin, variant: str, source: str, node_sources: dict[str, str], scratch: Path) -> list[str]:
    """Everything ComfyUI's environment must hold: its requirements at the pinned commit, the
    pinned PyTorch build and frontend, and each custom node's requirements at its commit."""
    lines = _requirement_lines(requirement_text("ComfyUI", source, pin.comfyui_commit, "requirements.txt", scratch))
    for node in pin.custom_nodes:
        url = node_sources.get(node.name, node.repository)
        lines += _requirement_lines(
            requirement_text(f"Custom node {node.name}", url, node.commit, "requirements.txt", scratch)
        )
    exact = {
        canonical(re.split(r"[=<>~!; \[]", p, maxsplit=1)[0]): p
        for p in (*TORCH[variant], f"{FRONTEND_PACKAGE}=={pin.frontend_version}")
    }
    kept = [line for line in lines if canonical(re.split(r"[=<>~!; \[]", line, maxsplit=1)[0]) not in exact]
    return [*exact.values(), *kept, *UNLISTED]


def scratch_python(python: Path, scratch: Path) -> Path:
    """A throwaway environment of `python`, whose pip resolves for that very interpreter."""
    venv = scratch / "resolver"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, capture_output=True)
    return venv / "bin" / "python"


def resolve(resolver: Path, requirements: list[str], index: Index, log: Path) -> list[dict]:
    """pip's own resolution of `requirements`, nothing installed: one entry per package."""
    report = log.with_suffix(".report.json")
    command = [
        str(resolver),
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--report",
        str(report),
        *index.pip_options(),
        *requirements,
    ]
    with log.open("w", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        code = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **NO_TELEMETRY},
            check=False,
        ).returncode
    if code != 0:
        raise AtelierError("packages-resolve-failed", log=log, reason=pip_reason(log))
    return json.loads(report.read_text(encoding="utf-8"))["install"]


def pip_reason(log: Path) -> str:
    """The line of a pip log that says why, in pip's words."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    for pattern in (
        r"No matching distribution found for .*",
        r"THESE PACKAGES DO NOT MATCH THE HASHES.*",
        r"Could not find a version that satisfies the requirement .*",
        r"Cannot install .* because",
        r"ResolutionImpossible.*",
    ):
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()
    return last_line(text)


def lock_text(made: Made, packages: list[dict], purpose: str) -> str:
    """The lock file: a header, then `name==version --hash=sha256:...` per package, sorted."""
    lines = [
        f"# {purpose}: every package, by version and sha256.",
        "# Made by 'atelier pin --refresh'; installed by 'atelier install' with --require-hashes --no-deps.",
        HEADER + json.dumps(asdict(made), sort_keys=True),
    ]
    rows = []
    for package in packages:
        info = package.get("download_info", {})
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:  # a local folder (atelier itself): installed from the project, not from the lock
            continue
        meta = package["metadata"]
        rows.append(
            (canonical(meta["name"]), f"{canonical(meta['name'])}=={meta['version']} \\\n    --hash=sha256:{digest}")
        )
    return "\n".join(lines + [row for _, row in sorted(rows)]) + "\n"


def python_tag(python: Path) -> tuple[str, str]:
    """(major.minor, platform) of an interpreter, as its pip resolves for."""
    code = "import sys, sysconfig; print(f'{sys.version_info[0]}.{sys.version_info[1]}', sysconfig.get_platform())"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def base_home(python: Path) -> Path:
    """The folder a venv made by `python` names as its home: that of the interpreter under any venv."""
    code = "import os, sys; print(os.path.dirname(getattr(sys, '_base_executable', sys.executable)))"
    return Path(subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip())


def refresh(
    pin: Pin,
    pin_path: Path,
    project: Path,
    python: Path,
    index: Index,
    variant: str,
    source: str,
    node_sources: dict[str, str],
    logs: Path,
    report: Callable[[str], None] = lambda text: None,
    tools: Iterable[Tool] = (),
) -> list[Path]:
    """Make the lock files of ComfyUI's environment (this build), atelier's and each tool's, from pip's
    resolution."""
    if variant not in VARIANTS:
        raise ValueError(variant)
    logs.mkdir(parents=True, exist_ok=True)
    version, platform = python_tag(python)
    torch_index = index.torch_index if index.torch_index or index.wheelhouse else TORCH_INDEX[variant]
    index = Index(index.package_index, torch_index, index.wheelhouse)
    written = []
    with tempfile.TemporaryDirectory(prefix="atelier-lock-") as folder:
        scratch = Path(folder)
        report(f"Reading the requirements of ComfyUI {pin.comfyui_version} and {len(pin.custom_nodes)} custom node(s)")
        requirements = wanted(pin, variant, source, node_sources, scratch)
        resolver = scratch_python(python, scratch)
        made = Made(
            variant,
            version,
            platform,
            pin.comfyui_commit,
            {node.repository: node.commit for node in pin.custom_nodes},
            torch_index,
            date.today().isoformat(),
        )
        report(f"Resolving {len(requirements)} requirements of ComfyUI's environment ({variant})")
        packages = resolve(resolver, requirements, index, logs / f"lock-{comfyui_environment(variant == 'cpu')}.log")
        target = lock_file(pin_path, comfyui_environment(variant == "cpu"))
        written.append(_write(target, lock_text(made, packages, f"ComfyUI's environment, {variant} build")))
        report("Resolving atelier's own packages")
        packages = resolve(
            resolver, [str(project)], Index(index.package_index, None, index.wheelhouse), logs / "lock-atelier.log"
        )
        own = Made("any", version, platform, made=made.made)
        written.append(_write(lock_file(pin_path, "atelier"), lock_text(own, packages, "atelier's environment")))
        written += _tool_locks(pin, pin_path, tools, resolver, index, variant, logs, report)
    return written


def refresh_tools(
    pin: Pin,
    pin_path: Path,
    tools: Iterable[Tool],
    python: Path,
    index: Index,
    variant: str,
    logs: Path,
    report: Callable[[str], None] = lambda text: None,
) -> list[Path]:
    """Make only these tools' locks: a tool added to the pin, or moved to another release, mid-semester."""
    logs.mkdir(parents=True, exist_ok=True)
    torch_index = index.torch_index if index.torch_index or index.wheelhouse else TORCH_INDEX[variant]
    with tempfile.TemporaryDirectory(prefix="atelier-lock-") as folder:
        resolver = scratch_python(python, Path(folder))
        index = Index(index.package_index, torch_index, index.wheelhouse)
        return _tool_locks(pin, pin_path, tools, resolver, index, variant, logs, report)


def _tool_locks(
    pin: Pin,
    pin_path: Path,
    tools: Iterable[Tool],
    resolver: Path,
    index: Index,
    variant: str,
    logs: Path,
    report: Callable[[str], None],
) -> list[Path]:
    version, platform = python_tag(resolver)
    written = []
    for tool in tools:
        report(f"Resolving {tool.title}'s packages ({pin.tools[tool.name]})")
        environment = tool_environment(tool, variant == "cpu")
        found = resolve(
            resolver,
            tool_requirements(tool, pin, variant),
            index if tool.torch else Index(index.package_index, None, index.wheelhouse),
            logs / f"lock-{environment}.log",
        )
        made_for = Made(
            variant if tool.torch else "any",
            version,
            platform,
            torch_index=index.torch_index if tool.torch else None,
            made=date.today().isoformat(),
            tool=pin.tools[tool.name],
        )
        purpose = f"{tool.title}'s environment" + (f", {variant} build" if tool.torch else "")
        written.append(_write(lock_file(pin_path, environment), lock_text(made_for, found, purpose)))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
