"""ComfyUI sessions as real Slurm jobs: `atelier launch`, `status`, `stop`, and the OOD app's job.

Without a ComfyUI (CI) the jobs still run for real and must fail the way a student
would see it: one plain line saying what happened and where the log is. With
COMFYUI_DIR set, the whole path runs: job, gate, login, stop.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from atelier.comfy.server import LOGIN
from atelier.hpc import ood
from atelier.hpc import slurm as slurm_jobs
from atelier.hpc.profiles import load_profile
from atelier.lessons.modules import all_modules
from tests import ood_standin
from tests.erb import NO_RUBY, RUBY
from tests.slurm.conftest import SlurmCluster

ROOT = Path(__file__).resolve().parents[2]
HAS_COMFYUI = bool(os.environ.get("COMFYUI_DIR")) and (Path(os.environ.get("COMFYUI_DIR", "/")) / "main.py").is_file()
needs_comfyui = pytest.mark.skipif(
    not HAS_COMFYUI, reason="COMFYUI_DIR is not set to a ComfyUI checkout: see tests/README.md"
)
COMFYUI_VARS = ("COMFYUI_DIR", "COMFYUI_PYTHON", "ATELIER_PREFIX")


def atelier(
    slurm: SlurmCluster, *args: str, comfyui: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    env = dict(slurm.env)
    if not comfyui:
        env = {k: v for k, v in env.items() if k not in COMFYUI_VARS}
    return subprocess.run(
        [sys.executable, "-m", "atelier", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def launch(
    slurm: SlurmCluster, tmp_path: Path, folder: Path, outputs: Path, *args: str, comfyui: bool = True
) -> subprocess.CompletedProcess[str]:
    """`atelier launch` on the local cluster: the student's folder under tmp_path/home, the session's in `folder`."""
    where = ["--user-folder", str(tmp_path / "home"), "--workdir", str(folder), "--outputs", str(outputs)]
    return atelier(slurm, "launch", "--cluster", "local", *where, *args, comfyui=comfyui)


def request(port: int, method: str, path: str, body: str | None = None, cookie: str = "") -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def workflows_panel(port: int, cookie: str) -> list[str]:
    """What ComfyUI's Workflows panel lists: the page asks this route for it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/userdata?dir=workflows&recurse=true&split=false", headers={"Cookie": cookie})
    response = conn.getresponse()
    assert response.status == 200, response.status
    return json.loads(response.read())


def log_in(port: int, key: str, base: str = "/") -> str:
    """POST the key as the dashboard's Connect button does; returns the cookie pair."""
    response = request(port, "POST", LOGIN, urllib.parse.urlencode({"token": key, "base": base}))
    assert response.status == 303, response.status
    return response.headers["Set-Cookie"].split(";")[0]


def test_launch_reports_a_session_that_could_not_start(slurm: SlurmCluster, tmp_path: Path) -> None:
    """No ComfyUI on the node: the job really runs, and launch says why in one line."""
    folder = tmp_path / "session"
    done = launch(slurm, tmp_path, folder, tmp_path / "out", "--wait", "120", comfyui=False)
    assert done.returncode == 1, done.stdout + done.stderr
    job_id = done.stdout.split("Submitted job ")[1].split()[0]
    assert done.stdout.startswith(f"Submitted job {job_id} to This machine (tests) (No GPU (CPU only), 1 h).")
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"Error: The ComfyUI session (job {job_id}) ended before ComfyUI was ready (the log's "
        "last line: Error: No ComfyUI was found at "
    )
    assert error.endswith(f"Read the whole log in {folder / 'job.log'}, then start a new session.")
    assert "Traceback" not in done.stderr


def test_launch_refuses_more_hours_than_the_cluster_allows(slurm: SlurmCluster, tmp_path: Path) -> None:
    done = atelier(slurm, "launch", "--cluster", "local", "--hours", "48", "--workdir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: A session on local can last at most 24 hours, so 48.0 hours can't be "
        "booked. Ask for 24 hours or fewer; you can start a new session when this one ends."
    )
    assert atelier(slurm, "status").stdout.strip() == "You have no ComfyUI sessions."


def test_stop_refuses_a_job_that_is_not_a_session(slurm: SlurmCluster) -> None:
    done = atelier(slurm, "stop", "999999")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: There is no ComfyUI session of yours with job number 999999. Run 'atelier "
        "status' to list your sessions and their job numbers."
    )


@needs_comfyui
def test_launch_opens_a_gated_session_that_status_lists_and_stop_ends(slurm: SlurmCluster, tmp_path: Path) -> None:
    folder, outputs = tmp_path / "session", tmp_path / "outputs"
    done = launch(slurm, tmp_path, folder, outputs, "--module", "txt2img-basics", "--wait", "170")
    assert done.returncode == 0, done.stdout + done.stderr
    job_id = done.stdout.split("Submitted job ")[1].split()[0]
    connection = json.loads((folder / "connection.json").read_text())
    port = connection["port"]
    assert f"Open http://127.0.0.1:{port}{LOGIN}" in done.stdout
    assert f"The login page asks for the session key kept in {folder / 'gate' / 'token'}" in done.stdout
    assert f"Stop it with: atelier stop {job_id}" in done.stdout

    assert request(port, "GET", "/").status == 403
    assert request(port, "GET", "/queue").status == 403
    cookie = log_in(port, (folder / "gate" / "token").read_text())
    assert request(port, "GET", "/", cookie=cookie).status == 200
    assert workflows_panel(port, cookie) == ["Your first image.json"]  # the session's copy of the student's folder
    assert outputs.is_dir()

    status = atelier(slurm, "status").stdout
    assert f"Job {job_id}: running" in status and str(folder) in status

    stopped = atelier(slurm, "stop", job_id)
    assert stopped.returncode == 0 and f"Stopping job {job_id}" in stopped.stdout
    deadline = time.monotonic() + 60
    while slurm_jobs.session(job_id, env=slurm.env).state != "ENDED":
        assert time.monotonic() < deadline, "the session did not end within 60 s of atelier stop"
        time.sleep(1)
    assert "ComfyUI stopped." in (folder / "job.log").read_text()


# --- The Open OnDemand app's job ------------------------------------------------------
# OOD stages the app's templates and wraps them in a job script of its own (ood_core's
# "basic" template), submitted by ood_core's Slurm adapter with `--export NONE`. CI has
# no OOD, so tests/ood_standin.py does the same; tests/ood holds it to OOD's own code.
PORTS = (20000, 20999)  # the cluster's port range (clusters.d batch_connect min_port/max_port)


@pytest.fixture
def ood_job(slurm: SlurmCluster, tmp_path: Path):
    """Returns launch(comfyui) -> (staged folder, job id): the app deployed, staged and submitted as OOD does."""
    if RUBY is None:
        pytest.skip(NO_RUBY)

    def launch(comfyui: bool) -> tuple[Path, str]:
        site, app = tmp_path / "atelier.yml", tmp_path / "app"
        checkout = (Path(os.environ["COMFYUI_DIR"]), Path(os.environ["COMFYUI_PYTHON"])) if comfyui else None
        profile = dataclasses.replace(load_profile("local"), user_folder=str(tmp_path / "home" / "atelier-comfyui"))
        ood.deploy(
            app, site, [profile], all_modules(ROOT / "workflows"), app=ROOT / "ood" / "comfyui", comfyui=checkout
        )
        values = {
            "cluster": "local",
            "gpu": "local:cpu",
            "hours": "1",
            "lesson": "txt2img-basics",
            "output_folder": str(tmp_path / "outputs"),
        }
        staged = ood_standin.stage(app, site, values, tmp_path / "staged")
        env = {k: v for k, v in slurm.env.items() if k not in COMFYUI_VARS}  # --export NONE passes none anyway
        job_id = ood_standin.submit(staged, ood_standin.submit_options(app, site, values), env, *PORTS)
        return staged, job_id

    return launch


def test_ood_job_without_comfyui_ends_with_a_plain_reason(slurm: SlurmCluster, ood_job) -> None:
    staged, job_id = ood_job(comfyui=False)
    slurm.wait_for(job_id, {"COMPLETED", "FAILED"}, timeout=90)
    log = (staged / "output.log").read_text()
    assert "Session key written to" in log
    assert "Error: No ComfyUI was found at" in log, log  # atelier itself ran, though the job has no PATH of ours
    assert "The session is not running; the lines above say why" in log
    key = (staged / "gate" / "token").read_text()
    assert len(key) == 43 and key not in log


@needs_comfyui
def test_ood_job_serves_comfyui_behind_the_gate_and_stops_cleanly(slurm: SlurmCluster, ood_job) -> None:
    staged, job_id = ood_job(comfyui=True)
    deadline = time.monotonic() + 170
    while not (staged / "connection.yml").is_file():
        assert slurm.job_state(job_id) in {"PENDING", "RUNNING"}, (staged / "output.log").read_text()
        assert time.monotonic() < deadline, "ComfyUI did not become ready"
        time.sleep(1)
    connection = yaml.safe_load((staged / "connection.yml").read_text())
    port, key, host = int(connection["port"]), str(connection["password"]), str(connection["host"])
    assert host == socket.gethostname() and PORTS[0] <= port <= PORTS[1]
    assert key == (staged / "gate" / "token").read_text()
    assert request(port, "GET", "/").status == 403
    cookie = log_in(port, key, base=f"/rnode/{host}/{port}/")
    assert request(port, "GET", "/object_info", cookie=cookie).status == 200
    assert workflows_panel(port, cookie) == ["Your first image.json"]
    slurm.run("scancel", job_id)
    slurm.wait_for(job_id, {"CANCELLED", "COMPLETED", "FAILED"}, timeout=60)
    log = (staged / "output.log").read_text()
    assert "The session is listening on port" in log and key not in log
