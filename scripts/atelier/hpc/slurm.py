"""ComfyUI sessions as Slurm jobs: submit, list, wait for, cancel.

A session is one Slurm job running `atelier serve`. The job writes `connection.json`
in its folder when ComfyUI answers; launch, status and stop read that file and ask
Slurm (`sbatch`, `squeue`, `scancel`) for the rest, so no state is kept elsewhere.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.comfy.server import LOGIN
from atelier.hpc.profiles import Gpu, Profile, atelier_command, sbatch_options, serve_args
from atelier.layout import Layout, SessionFolder
from atelier.messages import AtelierError

JOB_NAME = "atelier-comfyui"
# The job log's first line: where the job runs and which card(s) Slurm gave it (none on a CPU choice).
WHERE = 'echo "$(date): {what} on $(hostname), GPU ${{CUDA_VISIBLE_DEVICES:-none}}"'


def time_limit(hours: float) -> str:
    minutes = max(1, round(hours * 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def serve_command(profile: Profile, gpu: Gpu, workdir: str, outputs: str, module: str | None) -> list[str]:
    """`atelier serve` as `atelier launch`'s job runs it: on the node's address, behind the gate."""
    command = [*atelier_command(profile), *serve_args(profile, gpu), "--workdir", workdir, "--outputs", outputs]
    return command + (["--module", module] if module else [])


def environment(profile: Profile) -> list[str]:
    """A job's lines before its command: the profile's modules, and the install's atelier.env."""
    lines = [f"module load {shlex.quote(name)}" for name in profile.modules]
    if profile.prefix:
        lines.append(f"source {shlex.quote(str(Layout.of(profile.prefix).env_file))}")
    return lines


def job_script(profile: Profile, gpu: Gpu, hours: float, workdir: Path, outputs: str, module: str | None) -> str:
    """The batch script `atelier launch` submits; `exec` so Slurm's signals reach serve."""
    options = [
        f"--job-name={JOB_NAME}",
        *sbatch_options(profile, gpu),
        f"--time={time_limit(hours)}",
        f"--output={SessionFolder(workdir).job_log}",
        f"--chdir={workdir}",
    ]
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH {option}" for option in options),
        "set -euo pipefail",
        WHERE.format(what="ComfyUI session starting"),
        *environment(profile),
    ]
    command = serve_command(profile, gpu, str(workdir), outputs, module)
    # $HOME and $USER in the outputs folder are the job's own, so leave them to the shell.
    lines.append("exec " + " ".join(f'"{part}"' if "$" in part else shlex.quote(part) for part in command))
    return "\n".join(lines) + "\n"


def _slurm(args: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    except FileNotFoundError:
        raise AtelierError("slurm-missing", command=args[0]) from None
    except subprocess.TimeoutExpired:
        raise AtelierError("slurm-refused", command=args[0], reason="no answer within 60 s") from None
    if done.returncode != 0:
        raise AtelierError("slurm-refused", command=args[0], reason=(done.stderr or done.stdout).strip() or "no reason")
    return done.stdout


@dataclass
class Session:
    job_id: str
    state: str  # Slurm's: PENDING, RUNNING, ... or ENDED once squeue no longer lists it
    node: str
    workdir: Path
    time_left: str = ""
    reason: str = ""

    @property
    def folder(self) -> SessionFolder:
        return SessionFolder(self.workdir)

    @property
    def connection(self) -> dict[str, Any] | None:
        """What `serve` wrote once ComfyUI answered; None until then."""
        try:
            return json.loads(self.folder.connection.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def key_file(self) -> Path:
        return self.folder.key_file

    @property
    def log(self) -> Path:
        return self.folder.job_log


def submit(script: str, workdir: Path, env: dict[str, str] | None = None) -> str:
    """Submit a session's script; returns the job id."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = SessionFolder(workdir).job_script
    path.write_text(script, encoding="utf-8")
    return submit_file(path, env)


def submit_file(path: Path, env: dict[str, str] | None = None) -> str:
    """Submit a batch script already written; returns the job id (of the whole array, for one)."""
    return _slurm(["sbatch", "--parsable", str(path)], env).strip().split(";")[0]


def array_tasks(job_id: str, env: dict[str, str] | None = None) -> dict[int, tuple[str, str]]:
    """Each task of array `job_id` that Slurm still lists: index -> (state, reason).

    Pending tasks are listed one by one (-r); an ended task is no longer listed.
    """
    try:
        out = _slurm(["squeue", "-h", "-r", "-j", job_id, "-o", "%K|%T|%r"], env)
    except AtelierError as err:
        if "Invalid job id" not in str(err.values.get("reason", "")):
            raise
        return {}
    found: dict[int, tuple[str, str]] = {}
    for line in out.splitlines():
        index, state, reason = (line.split("|") + ["", ""])[:3]
        if index.strip().isdigit():
            found[int(index)] = (state, "" if reason == "None" else reason)
    return found


SQUEUE_FORMAT = "%i|%T|%N|%Z|%L|%r"


def _parse(line: str) -> Session:
    job_id, state, node, workdir, left, reason = (line.split("|") + [""] * 6)[:6]
    return Session(job_id, state, node, Path(workdir), left, "" if reason == "None" else reason)


def sessions(env: dict[str, str] | None = None) -> list[Session]:
    """This user's ComfyUI sessions that Slurm still lists."""
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    out = _slurm(["squeue", "-h", "-u", user, "-n", JOB_NAME, "-o", SQUEUE_FORMAT], env)
    return [_parse(line) for line in out.splitlines() if line.strip()]


def session(job_id: str, workdir: Path | None = None, env: dict[str, str] | None = None) -> Session:
    """One session's state; ENDED when Slurm no longer lists it."""
    try:
        out = _slurm(["squeue", "-h", "-j", job_id, "-o", SQUEUE_FORMAT], env)
    except AtelierError as err:
        if "Invalid job id" not in str(err.values.get("reason", "")):
            raise
        out = ""
    lines = [line for line in out.splitlines() if line.strip()]
    if not lines:
        return Session(job_id, "ENDED", "", workdir or Path("."))
    found = _parse(lines[0])
    return Session(found.job_id, found.state, found.node, workdir or found.workdir, found.time_left, found.reason)


def wait_until_ready(
    job_id: str,
    workdir: Path,
    timeout: float,
    on_state: Callable[[Session], None],
    env: dict[str, str] | None = None,
    poll: float = 1.0,
) -> Session:
    """Wait for the job to run and ComfyUI to answer (its connection file appears)."""
    deadline = time.monotonic() + timeout
    while True:
        current = session(job_id, workdir, env)
        on_state(current)
        if current.connection is not None and current.state in ("RUNNING", "COMPLETING"):
            return current
        if current.state not in ("PENDING", "CONFIGURING", "RUNNING"):
            raise AtelierError("session-ended", job=job_id, log=current.log, last=_last_line(current.log))
        if time.monotonic() > deadline:
            raise AtelierError(
                "session-slow",
                job=job_id,
                seconds=round(timeout),
                state=current.state.lower(),
                reason=current.reason or "none given",
            )
        time.sleep(poll)


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log yet)"
    return lines[-1].strip() if lines else "(the log is empty)"


def cancel(job_id: str, env: dict[str, str] | None = None) -> None:
    """End a session: Slurm sends SIGTERM, and serve lets the running picture finish."""
    _slurm(["scancel", job_id], env)


def open_instructions(profile: Profile, current: Session) -> dict[str, str]:
    """How to reach a running session: the dashboard link, or an SSH tunnel."""
    connection = current.connection or {}
    host, port = connection.get("host", current.node), connection.get("port", "")
    ways = {"key": str(current.key_file)}
    if profile.ondemand_url:
        ways["dashboard"] = f"{profile.ondemand_url.rstrip('/')}/rnode/{host}/{port}{LOGIN}"
    if profile.login_host and profile.login_host != "127.0.0.1":
        ways["tunnel"] = f"ssh -N -L 8188:{host}:{port} {profile.login_host}"
        ways["local"] = f"http://127.0.0.1:8188{LOGIN}"
    else:
        ways["local"] = f"http://{host}:{port}{LOGIN}"
    return ways


def stop_time(job_id: str | None, margin: float, env: dict[str, str] | None = None) -> float | None:
    """When a session inside Slurm job `job_id` should stop: `margin` s before its time limit.

    Slurm's own SIGTERM at the limit comes only KillWait seconds before SIGKILL, too late
    for a long prompt to finish; stopping a little early keeps every saved file whole.
    """
    if not job_id:
        return None
    try:
        out = _slurm(["squeue", "-h", "-j", job_id, "-o", "%e"], env).strip()
        end = time.mktime(time.strptime(out, "%Y-%m-%dT%H:%M:%S"))
    except (AtelierError, ValueError):
        return None  # no limit known (e.g. UNLIMITED): rely on SIGTERM
    return end - margin
