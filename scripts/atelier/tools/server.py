"""Starting a declared tool behind the standalone gate, the way ComfyServer starts ComfyUI.

The tool gets a private port on 127.0.0.1 and the blanks of its declaration filled in;
once it answers its health check, the gate starts on the address the dashboard's proxy
reaches and checks, before anyone is told the session is ready, that it refuses a
request without the key and that the tool's own port answers nothing but 127.0.0.1.
What the student keeps between sessions (`keep` in the declaration) lives in their own
folder on the network file system, but the tool works on a copy on the node's own disk
(SQLite is unsafe on a network file system), brought back every minute and when it stops.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from atelier.comfy.server import OFFLINE, SessionPlaces, free_port, session_key
from atelier.files import aside_stamp, write_whole
from atelier.keep.ledger import PREVIEWS
from atelier.messages import AtelierError
from atelier.tools.declaration import PROGRAMS, Tool

# Nothing a tool runs may fetch from the web (a model it lacks, an update check): every HTTP client that
# honours the usual settings is sent to a closed port on this machine instead.
NO_EGRESS = {
    name: value
    for proxy in ("http_proxy", "https_proxy", "all_proxy")
    for name, value in ((proxy, "http://127.0.0.1:9"), (proxy.upper(), "http://127.0.0.1:9"))
} | {"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
STOP_SECONDS = 10.0  # a tool makes one picture at a time in the browser's request: nothing to drain


def _status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status `url` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, ValueError):
        return None


def copy_state(source: Path, dest: Path) -> None:
    """`source` (a file or folder) copied whole to `dest`; an SQLite file through SQLite's own backup,
    which is consistent even while the tool writes it."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file() and not path.name.endswith(("-journal", "-wal", "-shm")):
                copy_state(path, dest / path.relative_to(source))
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix == ".db":
        partial = dest.with_name(f".{dest.name}.partial")
        partial.unlink(missing_ok=True)
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(partial)) as out:
            src.backup(out)
        partial.replace(dest)
    else:
        write_whole(dest, source.read_bytes())


@dataclass
class ToolServer(SessionPlaces):
    """A declared tool and its gate; use as a context manager, or call start() and stop()."""

    tool: Tool
    python: Path  # the tool environment's Python
    workdir: Path  # the session's folder (layout.SessionFolder): the key, connection.json, the logs
    port: int = 0  # the gate's: the one the dashboard's proxy reaches
    listen: str = "127.0.0.1"
    key_file: Path | None = None
    outputs: Path | None = None  # default: <workdir>/output
    models: Path | None = None  # the shared model store
    base: str = "/"  # the path the dashboard's proxy serves this session under
    keep: Path | None = None  # the student's folder for this tool, kept between sessions
    state: Path | None = None  # default: <workdir>/state; serve gives a folder on the node's own disk
    tool_port: int = 0
    token: str | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    drain_seconds: float = STOP_SECONDS
    synced: float = 0.0

    def __post_init__(self) -> None:
        self.workdir = self.workdir.resolve()
        self.outputs = self.outputs.resolve() if self.outputs else None
        self.models = self.models.resolve() if self.models else None
        self.state = (self.state or self.workdir / "state").resolve()

    @property
    def tool_url(self) -> str:
        return f"http://127.0.0.1:{self.tool_port}"

    @property
    def log(self) -> Path:
        """The tool's own log, beside ComfyUI's name for it."""
        return self.workdir / f"{self.tool.name}.log"

    @property
    def gate_log(self) -> Path:
        return self.workdir / "gate.log"

    def blanks(self) -> dict[str, str]:
        bin_folder = self.python.parent
        return {
            "python": str(self.python),
            "bin": str(bin_folder),
            "port": str(self.tool_port),
            "base": self.base.rstrip("/"),
            "state": str(self.state),
            "keep": str(self.state / "kept"),
            "outputs": str(self.output_dir),
            "models": str(self.models or self.state / "no-model-store"),
        }

    def command(self) -> list[str]:
        blanks = self.blanks()
        return [self.tool.fill(part, blanks) for part in self.tool.command]

    def _prepare(self) -> dict[str, str]:
        """Folders, the key, the kept state on the node's disk, the declared files; the tool's environment."""
        if not self.python.exists():
            raise AtelierError("tool-not-installed", title=self.tool.title, python=self.python)
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (self.state, self.output_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.token = session_key(self.token_file, read=self.key_file is not None, made=self.token)
        kept = self.state / "kept"
        kept.mkdir(mode=0o700, exist_ok=True)
        if self.keep and self.keep.is_dir():
            copy_state(self.keep, kept)
        for name in self.tool.keep:
            (kept / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        blanks = self.blanks()
        for path, points_to in self.tool.links.items():
            link, target = Path(self.tool.fill(path, blanks)), Path(self.tool.fill(points_to, blanks))
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            elif link.exists():  # a folder of real files where the link goes: set aside, never deleted
                link.rename(link.with_name(f"{link.name} (set aside {aside_stamp()})"))
            link.symlink_to(target, target_is_directory=True)
        for path in self.tool.previews:  # marked, so the ledger and backups leave them out
            folder = Path(self.tool.fill(path, blanks))
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            (folder / PREVIEWS).touch()
        for path, text in self.tool.files.items():
            target = Path(self.tool.fill(path, blanks))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.tool.fill(text, blanks), encoding="utf-8")
        environment = {name: self.tool.fill(value, blanks) for name, value in self.tool.environment.items()}
        path = f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, **OFFLINE, **NO_EGRESS, "PATH": path, "HOME": str(self.state), **environment}

    def _spawn(self, command: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self.processes.append(process)
        return process

    def _wait(self, process: subprocess.Popen[bytes], url: str, ready: set[int], timeout: float, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.stop()
                raise AtelierError(
                    "tool-start-failed",
                    title=self.tool.title,
                    reason=f"it exited with code {process.returncode}",
                    log=log,
                )
            if _status(url) in ready:
                return
            time.sleep(0.25)
        self.stop()
        raise AtelierError(
            "tool-start-failed", title=self.tool.title, reason=f"it did not answer within {timeout:.0f} s", log=log
        )

    def start(self) -> str:
        """Start the tool, then its gate; return the gate's URL once both answer."""
        self.tool_port = self.tool_port or free_port()
        self.port = self.port or free_port()
        env = self._prepare()
        tool = self._spawn(self.command(), self.log, env, self.state)
        self._wait(tool, self.tool_url + self.tool.health, {200}, self.tool.start_seconds, self.log)
        gate = [
            sys.executable,
            "-m",
            "atelier.tools.gate",
            "--upstream",
            self.tool_url,
            "--listen",
            self.listen,
            "--port",
            str(self.port),
            "--key-file",
            str(self.token_file),
            "--title",
            self.tool.title,
            *(arg for path in self.tool.served_files for arg in ("--served-files", path)),
        ]
        self._spawn(gate, self.gate_log, {**os.environ, **OFFLINE}, self.workdir)
        self._wait(self.processes[-1], self.url + self.tool.health, {403}, 30, self.gate_log)
        if self._answers_elsewhere():
            self.stop()
            raise AtelierError("tool-gate-open", title=self.tool.title, name=self.tool.name)
        self._register_models()
        self.synced = time.monotonic()
        return self.url

    def _register_models(self) -> None:
        """Tell the tool of each model in its store folders, where the declaration says it must be told."""
        if not self.tool.register or not self.models:
            return
        for folder in self.tool.models:
            for model in sorted((self.models / folder).glob("[!.]*")):
                path = self.tool.register.format(model=urllib.parse.quote(str(model), safe=""))
                request = urllib.request.Request(self.tool_url + path, data=b"{}", method="POST")
                request.add_header("Content-Type", "application/json")
                try:
                    urllib.request.urlopen(request, timeout=30).close()
                except (OSError, urllib.error.HTTPError):
                    pass  # already known from a kept database, or not a model: the tool's log says which

    def _answers_elsewhere(self) -> bool:
        """Whether the tool's own port answers on an address other than 127.0.0.1 (it must not)."""
        for family, _, _, _, address in socket.getaddrinfo(socket.gethostname(), self.tool_port, socket.AF_INET):
            if address[0].startswith("127."):
                continue
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(1)
                if probe.connect_ex(address) == 0:
                    return True
        return False

    def alive(self) -> bool:
        return bool(self.processes) and all(process.poll() is None for process in self.processes)

    def sync_if_due(self, every: float = 60.0) -> None:
        """The kept state back in the student's folder, every minute while the tool runs."""
        if self.keep and time.monotonic() - self.synced >= every:
            self.sync()

    def sync(self) -> None:
        if self.keep:
            self.keep.mkdir(mode=0o700, parents=True, exist_ok=True)
            copy_state(self.state / "kept", self.keep)
        self.synced = time.monotonic()

    def stop(self, grace: float | None = None) -> None:
        """The gate first (no new requests), then the tool; what it keeps goes back to the student's folder."""
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=self.drain_seconds if grace is None else grace)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self.processes and self.keep:
            self.sync()
        self.processes = []

    def write_connection(self, **extra: object) -> Path:
        """`connection.json`, with the tool and its private port (on 127.0.0.1 only)."""
        return super().write_connection(tool=self.tool.name, tool_port=self.tool_port, **extra)

    def __enter__(self) -> ToolServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def remove_state(server: ToolServer) -> None:
    """The session's copy on the node's disk, once it is back in the student's folder."""
    if server.state and server.keep:
        shutil.rmtree(server.state, ignore_errors=True)


def make_test_models(tool: Tool, python: Path, store: Path, full: bool = False) -> Path | None:
    """The tool's random-weight test models in `store`, made by its `test_models` program with its own Python;
    returns where, or None for a tool that declares none. Made once: a folder already there is kept."""
    if not tool.test_models:
        return None
    if not python.exists():
        raise AtelierError("tool-not-installed", title=tool.title, python=python)
    program, *args = tool.test_models
    args = [arg.replace("{models}", str(store.absolute())) for arg in args]
    out = Path(args[args.index("--out") + 1]) if "--out" in args else store
    if out.is_dir() and any(out.iterdir()):
        return out
    command = [str(python), str(PROGRAMS / program), *args, *(["--full"] if full else [])]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **OFFLINE, **NO_EGRESS})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise AtelierError("testmodels-failed", reason=last[:300])
    return out
