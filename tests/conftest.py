"""Tiers, and the real components the tiers need.

A test's tier is its folder (tests/unit, tests/site, ...). A tier whose component is
missing on this machine is skipped with the reason, so `./dev test` as an ordinary
user still runs everything it can and says what it could not.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.hpc.localslurm import find_daemon  # the slurm tier's cluster starts its daemons with it

ROOT = Path(__file__).resolve().parent.parent
# The shipped profiles leave values to confirm, so the site is built as a preview (banners where they
# are missing), as `./dev serve` builds it; tests/unit/test_site_publish.py builds it as a publish does.
os.environ.setdefault("ATELIER_SITE_PREVIEW", "1")
CHROMIUM = Path(os.environ.get("ATELIER_CHROMIUM", "/usr/bin/chromium"))  # Debian's; never a downloaded build
TIERS = ("unit", "site", "slurm", "comfyui", "ood", "install", "tools", "gpu")
SLURM_DAEMONS = ("slurmctld", "slurmd", "munged")  # Debian's slurmctld, slurmd and munge; clients come with them


def slurm_skip_reason() -> str | None:
    """Why the slurm tier can't start its own cluster here, or None if it can."""
    if os.geteuid() != 0:
        return "the slurm tier runs its own munged, slurmctld and slurmd, which needs root: run ./dev test as root"
    missing = [name for name in SLURM_DAEMONS if not find_daemon(name)]
    if missing:
        return f"{', '.join(missing)} not installed: ./dev test as root installs Debian's Slurm and munge"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_chromium = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM}: run ./dev test as root, or apt-get install chromium"
    )
    comfyui = os.environ.get("COMFYUI_DIR")
    no_comfyui = pytest.mark.skip(
        reason="COMFYUI_DIR is not set to a ComfyUI checkout (and COMFYUI_PYTHON to its Python): see tests/README.md"
        if not comfyui
        else f"COMFYUI_DIR={comfyui} holds no main.py"
    )
    slurm_reason = slurm_skip_reason()
    no_slurm = pytest.mark.skip(reason=slurm_reason or "")
    for item in items:
        tier = Path(item.fspath).relative_to(ROOT / "tests").parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
        if tier in ("site", "tools") and not CHROMIUM.exists():
            item.add_marker(no_chromium)
        if tier == "slurm" and slurm_reason:
            item.add_marker(no_slurm)
        if tier == "comfyui" and not (comfyui and (Path(comfyui) / "main.py").is_file()):
            item.add_marker(no_comfyui)
        if tier == "install" and not (comfyui and (Path(comfyui) / "main.py").is_file()):
            item.add_marker(no_comfyui)
        if tier == "install" and slurm_reason:
            item.add_marker(no_slurm)  # it installs as the service account, then runs as a student under Slurm
        if tier == "ood" and slurm_reason:
            item.add_marker(no_slurm)  # the ood tier submits to the local Slurm, as the slurm tier does


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output readable
        pass


@pytest.fixture(scope="session")
def serve_dir() -> Iterator:
    """Serve folders over HTTP on 127.0.0.1; yields a function folder -> base URL."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()


def project_copy(destination: Path) -> Path:
    """A git repository holding what the site build reads, for mike to commit into."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "mkdocs.yml", destination)
    for folder in ("docs", "workflows", "tools", "scripts", "checks", "ood"):  # ood: the launch form; tools: Teach
        shutil.copytree(ROOT / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))
    git = ["git", "-c", "user.name=Atelier tests", "-c", "user.email=tests@127.0.0.1"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=destination, check=True)
    subprocess.run(["git", "add", "."], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "site sources"], cwd=destination, check=True)
    return destination


def mike(repo: Path, *args: str) -> None:
    """Run mike against the throwaway branch `pages` of `repo`."""
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "Atelier tests",
        "GIT_AUTHOR_EMAIL": "tests@127.0.0.1",
        "GIT_COMMITTER_NAME": "Atelier tests",
        "GIT_COMMITTER_EMAIL": "tests@127.0.0.1",
    }
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mike"), *args, "--branch", "pages"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"mike {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def current_pin():
    from atelier.lessons.pin import load_pin

    return load_pin(ROOT / "workflows" / "pin.yaml")


def publish(repo: Path, pin, *aliases: str) -> None:
    """Deploy one semester's version the way the runbook says."""
    mike(repo, "deploy", "--update-aliases", "--title", pin.docs_title, pin.docs_version, *aliases)


@pytest.fixture(scope="session")
def published_site(tmp_path_factory: pytest.TempPathFactory, serve_dir) -> tuple[str, Path]:
    """The site as a reader gets it: deployed by mike for this semester, then served.

    Yields (base URL of this semester's version, folder of that version).
    """
    repo = project_copy(tmp_path_factory.mktemp("project"))
    pin = current_pin()
    version = pin.docs_version
    publish(repo, pin, "latest")
    mike(repo, "set-default", "latest")
    out = tmp_path_factory.mktemp("published")
    archive = subprocess.run(["git", "archive", "pages"], cwd=repo, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return f"{serve_dir(out)}/{version}/", out / version


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Debian's Chromium, headless, unable to reach any host but this one: as the site's screenshots launch it."""
    from atelier.site.screenshots import BROWSER_ARGS

    return {"executable_path": str(CHROMIUM), "args": list(BROWSER_ARGS)}


class WebDav:
    """`rclone serve webdav` on 127.0.0.1: the backup remote the tests copy into.

    `env` points rclone at a config holding one remote, `test`, for this server.
    """

    def __init__(self, root: Path, config: Path) -> None:
        self.root, self.config = root, config
        self.port = free_port()
        self.env = {**os.environ, "RCLONE_CONFIG": str(config)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, password: str = "s3cret") -> None:
        from atelier.keep.backup import rclone

        self.process = subprocess.Popen(
            [
                str(rclone()),
                "serve",
                "webdav",
                str(self.root),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--user",
                "student",
                "--pass",
                password,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):  # up to 30 s: a loaded 2-core machine can take several to start it
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                break
            threading.Event().wait(0.05)
        raise RuntimeError(f"rclone serve webdav did not start (exit code {self.process.poll()})")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def configure(self, remote: str = "test", password: str = "s3cret") -> None:
        from atelier.keep.backup import rclone

        subprocess.run(
            [
                str(rclone()),
                "config",
                "create",
                remote,
                "webdav",
                "url",
                f"http://127.0.0.1:{self.port}",
                "vendor",
                "rclone",
                "user",
                "student",
                "pass",
                password,
                "--non-interactive",
                "--obscure",
            ],
            env=self.env,
            check=True,
            capture_output=True,
        )


@pytest.fixture
def webdav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDav]:
    """A running WebDAV remote named `test`; RCLONE_CONFIG set for this test's own rclone calls."""
    server = WebDav(tmp_path / "remote", tmp_path / "rclone.conf")
    server.root.mkdir()
    server.start()
    server.configure()
    monkeypatch.setenv("RCLONE_CONFIG", str(server.config))
    try:
        yield server
    finally:
        server.stop()
