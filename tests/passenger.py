"""Debian's Phusion Passenger, started the way Open OnDemand's per-user nginx starts a dashboard app.

OOD runs an app's passenger_wsgi.py under the system Python, which hands over to atelier's
own; Passenger standalone mounts it at /, where OOD mounts it at /pun/sys/<app>, and the app
takes its path from its site file, so the same addresses work. Used by the site tier's Box
and Class wall tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

import pytest

PASSENGER = shutil.which("passenger")
SYSTEM_PYTHON = Path("/usr/bin/python3")  # what OOD's nginx_stage gives Passenger's Python apps
needs_passenger = pytest.mark.skipif(
    not PASSENGER or not SYSTEM_PYTHON.exists(),
    reason="Phusion Passenger not installed: ./dev test as root installs Debian's passenger",
)


@contextmanager
def passenger_app(app: Path, port: int, folder: Path, url: str, env: dict[str, str]) -> Iterator[None]:
    """Serve the deployed `app` on 127.0.0.1:`port` until the block ends; `url` answers 200 first."""
    log = folder / "passenger.log"
    envvars = [arg for name, value in env.items() for arg in ("--envvar", f"{name}={value}")]
    server = subprocess.Popen(
        [
            str(PASSENGER),
            "start",
            "--engine",
            "builtin",
            "--app-type",
            "wsgi",
            "--startup-file",
            "passenger_wsgi.py",
            "--address",
            "127.0.0.1",
            "--port",
            str(port),
            "--python",
            str(SYSTEM_PYTHON),
            "--environment",
            "production",
            "--disable-security-update-check",
            "--disable-anonymous-telemetry",  # nothing leaves the machine
            "--pid-file",
            str(folder / "passenger.pid"),
            "--log-file",
            str(log),
            *envvars,
        ],
        cwd=app,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):  # Passenger starts in about 2 s, and the app on its first request
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, log.read_text() if log.exists() else "passenger exited"
            time.sleep(0.1)
        with urlopen(url, timeout=60) as first:
            assert first.status == 200
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)
