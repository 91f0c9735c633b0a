"""The tools beside ComfyUI, installed for real by `atelier install --tool` from the package index,
and served by `atelier serve --tool` with random-weight test models, as a session on a node is.

ATELIER_TOOLS_PREFIX keeps the install between runs (a second install skips every finished
step); without it the tier installs into a new folder, as CI does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.tools import u2net

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")
TOOLS = ("invokeai", "rembg")
SITE_PYTHON = Path("/usr/bin/python3")  # Debian's: every account can run it, as at a site


def atelier(*args: str, env: dict[str, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ATELIER, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def tools_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prefix holding every tool of the pin, installed by `atelier install --tool` from the package index."""
    usable = (
        SITE_PYTHON.is_file() and subprocess.run([str(SITE_PYTHON), "-c", "import ensurepip, venv"]).returncode == 0
    )
    if not usable:
        pytest.skip(f"{SITE_PYTHON} cannot make environments: apt-get install python3-venv (./dev test as root does)")
    prefix = Path(os.environ.get("ATELIER_TOOLS_PREFIX") or tmp_path_factory.mktemp("tools-prefix"))
    names = [arg for name in TOOLS for arg in ("--tool", name)]
    done = atelier("install", "--prefix", str(prefix), "--python", str(SITE_PYTHON), *names)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return prefix


@pytest.fixture(scope="session")
def tool_env(tools_prefix: Path) -> dict[str, str]:
    """What a job's atelier.env gives: the install (ATELIER_PREFIX) and the project."""
    return {**os.environ, "ATELIER_PREFIX": str(tools_prefix), "ATELIER_PROJECT": str(ROOT)}


@pytest.fixture(scope="session")
def tool_store(tools_prefix: Path, tool_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared store with each tool's random-weight test models."""
    store = Path(os.environ.get("ATELIER_TOOLS_STORE") or tmp_path_factory.mktemp("tool-store"))
    made = atelier("testmodels", "--tool", "invokeai", "--out", str(store), env=tool_env)
    assert made.returncode == 0, made.stderr[-3000:]
    u2net.write(store / "rembg")
    return store


@dataclass
class Session:
    """One `atelier serve --tool` session."""

    tool: str
    workdir: Path
    outputs: Path
    process: subprocess.Popen[str]
    connection: dict

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.connection['port']}"

    @property
    def token(self) -> str:
        return (self.workdir / "gate" / "token").read_text(encoding="utf-8").strip()

    @property
    def tool_port(self) -> int:
        return int(self.connection["tool_port"])

    def stop(self) -> str:
        """Stop it as Slurm does (SIGTERM); what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
        out, _ = self.process.communicate(timeout=60)
        return out


def start_session(
    tool: str, workdir: Path, store: Path, env: dict[str, str], *args: str, outputs: Path | None = None
) -> Session:
    """`atelier serve --tool` listening on every address (as on a cluster node), once it says it is ready."""
    outputs = outputs or workdir.parent / f"{workdir.name}-outputs"
    process = subprocess.Popen(
        [
            ATELIER,
            "serve",
            "--tool",
            tool,
            "--listen",
            "0.0.0.0",
            "--workdir",
            str(workdir),
            "--models",
            str(store),
            "--outputs",
            str(outputs),
            *args,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline() if process.stdout else ""
        if " is ready at " in line:
            connection = json.loads((workdir / "connection.json").read_text(encoding="utf-8"))
            return Session(tool, workdir, outputs, process, connection)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise AssertionError(
        f"atelier serve --tool {tool} did not start: {process.stdout.read() if process.stdout else ''}"
    )


@pytest.fixture(scope="session")
def sessions(
    tool_store: Path, tool_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Session]]:
    """One running session per tool, started when a test first asks for it."""
    running: dict[str, Session] = {}

    def session(tool: str) -> Session:
        if tool not in running:
            running[tool] = start_session(tool, tmp_path_factory.mktemp(tool), tool_store, tool_env)
        return running[tool]

    yield session
    for one in running.values():
        one.stop()
