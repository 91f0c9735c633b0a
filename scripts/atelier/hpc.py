"""Clusters: their profiles, and ComfyUI sessions as Slurm jobs.

Everything site-specific (partitions, GPU types and their gres strings, limits, paths)
lives in a cluster profile, `clusters/<name>.yaml`; code and prose never hold it. The
same profile gives `atelier launch` its sbatch options and the Open OnDemand form its
choices (through `atelier ood deploy`), so the two can never disagree.

A session is one Slurm job running `atelier serve`. The job writes `connection.json`
in its folder when ComfyUI answers; launch, status and stop read that file and ask
Slurm (`sbatch`, `squeue`, `scancel`) for the rest, so no state is kept elsewhere.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.backup import Settings as BackupSettings, settings_from
from atelier.files import read_yaml
from atelier.messages import AtelierError
from atelier.server import tuning

CLUSTERS = Path(__file__).with_name("clusters")
JOB_NAME = "atelier-comfyui"
CONNECTION = "connection.json"  # written by `atelier serve` once ComfyUI answers


@dataclass(frozen=True)
class Gpu:
    """One choice on the form: where the job goes and what it asks Slurm for."""

    name: str
    title: str
    partition: str
    gres: str | None  # None: no GPU, ComfyUI runs on the CPU
    memory_gb: int
    comfyui_args: tuple[str, ...] = ()  # speed options for this card, from `atelier bench --study`


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    ood_cluster: str
    login_host: str | None
    ondemand_url: str | None
    account: str | None
    max_hours: int
    default_hours: int
    cpus_per_gpu: int
    memory_per_gpu_gb: int
    gpus: dict[str, Gpu]
    default_gpu: str
    modules: list[str]
    prefix: Path | None  # None: use the atelier and ComfyUI this process runs with
    models: Path | None
    scratch: str
    outputs: str
    internet_on_compute: bool
    file: Path
    backup: BackupSettings = BackupSettings()
    account_url: str | None = None  # where a student asks for an account (Start here)
    support: str | None = None      # whom students write to when stuck (Start here)

    def gpu(self, name: str | None) -> Gpu:
        choice = name or self.default_gpu
        if choice not in self.gpus:
            raise AtelierError("cluster-gpu-unknown", gpu=choice, cluster=self.name, choices=", ".join(self.gpus))
        return self.gpus[choice]

    def hours(self, hours: float | None) -> float:
        wanted = self.default_hours if hours is None else hours
        if not 0 < wanted <= self.max_hours:
            raise AtelierError("cluster-hours", hours=wanted, cluster=self.name, most=self.max_hours)
        return wanted


def profile_names() -> list[str]:
    return sorted(path.stem for path in CLUSTERS.glob("*.yaml"))


def all_profiles() -> list[Profile]:
    return [load_profile(name) for name in profile_names()]


def installed_profiles(profiles: list[Profile] | None = None) -> list[Profile]:
    """The clusters students use: those with an install (the test machine's profile has none)."""
    return [p for p in (all_profiles() if profiles is None else profiles) if p.prefix]


def load_profile(name: str) -> Profile:
    """A profile by name (`pegasus`) or path; every problem names the file and field."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else CLUSTERS / f"{name}.yaml"
    if not path.is_file():
        raise AtelierError("cluster-unknown", cluster=name, known=", ".join(profile_names()))
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise AtelierError("cluster-field", file=path, field="(top level)", problem="must be a mapping of fields")

    def need(key: str, kind: type, where: dict[str, Any] = data, prefix: str = "") -> Any:
        value = where.get(key)
        if value is None or (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            problem = "is missing" if value is None else f"is {value!r}, expected {kind.__name__}"
            raise AtelierError("cluster-field", file=path, field=prefix + key, problem=problem)
        return value

    def maybe(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    gpus: dict[str, Gpu] = {}
    for gpu_name, gpu in need("gpus", dict).items():
        where = f"gpus.{gpu_name}."
        if not isinstance(gpu, dict):
            raise AtelierError("cluster-field", file=path, field=where[:-1], problem="must be a mapping of fields")
        gres = gpu.get("gres")
        options = gpu.get("comfyui_args") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise AtelierError("cluster-field", file=path, field=where + "comfyui_args", problem="must be a list of options")
        tuning(options, f"{path}, field {where}comfyui_args", cpu=gres is None)
        gpus[str(gpu_name)] = Gpu(str(gpu_name), need("title", str, gpu, where), need("partition", str, gpu, where),
                                  None if gres is None else str(gres), int(gpu.get("memory_gb") or 0), tuple(options))
    if not gpus:
        raise AtelierError("cluster-field", file=path, field="gpus", problem="lists no choice")
    default_gpu = need("default_gpu", str)
    if default_gpu not in gpus:
        raise AtelierError("cluster-field", file=path, field="default_gpu",
                           problem=f"is {default_gpu!r}, not one of the gpus ({', '.join(gpus)})")
    modules = data.get("modules") or []
    if not isinstance(modules, list):
        raise AtelierError("cluster-field", file=path, field="modules", problem="must be a list")
    prefix, models = maybe("prefix"), maybe("models")
    return Profile(
        name=path.stem, title=need("title", str), ood_cluster=need("ood_cluster", str),
        login_host=maybe("login_host"), ondemand_url=maybe("ondemand_url"), account=maybe("account"),
        max_hours=need("max_hours", int), default_hours=need("default_hours", int),
        cpus_per_gpu=need("cpus_per_gpu", int), memory_per_gpu_gb=need("memory_per_gpu_gb", int),
        gpus=gpus, default_gpu=default_gpu, modules=[str(m) for m in modules],
        prefix=Path(prefix) if prefix else None, models=Path(models) if models else None,
        scratch=str(data.get("scratch") or "/tmp"), outputs=str(data.get("outputs") or "$HOME/atelier-outputs"),
        internet_on_compute=bool(data.get("internet_on_compute")), file=path,
        backup=settings_from(data.get("backup"), path),
        account_url=maybe("account_url"), support=maybe("support"),
    )


def sbatch_options(profile: Profile, gpu: Gpu) -> list[str]:
    """What a session asks Slurm for, without the time limit (OOD sets that itself)."""
    options = [f"--partition={gpu.partition}", f"--cpus-per-task={profile.cpus_per_gpu}",
               f"--mem={profile.memory_per_gpu_gb}G"]
    if gpu.gres:
        options.insert(1, f"--gres={gpu.gres}")
    if profile.account:
        options.append(f"--account={profile.account}")
    return options


def time_limit(hours: float) -> str:
    minutes = max(1, round(hours * 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def atelier_command(profile: Profile) -> list[str]:
    """The atelier a job runs: the install prefix's, or (no prefix) this very one."""
    if profile.prefix:
        return [str(profile.prefix / "atelier-venv" / "bin" / "atelier")]
    return [sys.executable, "-m", "atelier"]


def serve_args(profile: Profile, gpu: Gpu, comfyui: tuple[Path, Path] | None = None,
               listen: str | None = None) -> list[str]:
    """`atelier serve`'s arguments that the profile decides, the same for launch and the OOD app.

    `comfyui` (checkout, Python) is passed on for a profile without an install prefix:
    Open OnDemand submits with `--export NONE`, so no COMFYUI_DIR reaches its jobs.
    `listen` defaults to the node's every address, or loopback on a one-machine profile.
    """
    listen = listen or ("127.0.0.1" if profile.login_host == "127.0.0.1" else "0.0.0.0")
    args = ["serve", "--listen", listen]
    if comfyui and not profile.prefix:
        args += ["--comfyui", str(comfyui[0]), "--python", str(comfyui[1])]
    if profile.models:
        args += ["--models", str(profile.models)]
    if gpu.gres is None:
        args.append("--cpu")
    args += [f"--comfyui-option={option}" for option in gpu.comfyui_args]
    if profile.backup.every_minutes:
        args += ["--backup-to", str(profile.backup.target), "--backup-every", str(profile.backup.every_minutes)]
    return args


def serve_command(profile: Profile, gpu: Gpu, workdir: str, outputs: str, module: str | None) -> list[str]:
    """`atelier serve` as `atelier launch`'s job runs it: on the node's address, behind the gate."""
    command = [*atelier_command(profile), *serve_args(profile, gpu), "--workdir", workdir, "--outputs", outputs]
    return command + (["--module", module] if module else [])


def job_script(profile: Profile, gpu: Gpu, hours: float, workdir: Path, outputs: str, module: str | None) -> str:
    """The batch script `atelier launch` submits; `exec` so Slurm's signals reach serve."""
    options = [f"--job-name={JOB_NAME}", *sbatch_options(profile, gpu), f"--time={time_limit(hours)}",
               f"--output={workdir / 'job.log'}", f"--chdir={workdir}"]
    lines = ["#!/bin/bash", *(f"#SBATCH {option}" for option in options), "set -euo pipefail",
             'echo "$(date): ComfyUI session starting on $(hostname)"']
    lines += [f"module load {shlex.quote(name)}" for name in profile.modules]
    if profile.prefix:
        env = profile.prefix / "atelier.env"
        lines.append(f"source {shlex.quote(str(env))}")
    command = serve_command(profile, gpu, str(workdir), outputs, module)
    # $HOME and $USER in the outputs folder are the job's own, so leave them to the shell.
    lines.append("exec " + " ".join(f'"{part}"' if "$" in part else shlex.quote(part) for part in command))
    return "\n".join(lines) + "\n"


def _slurm(args: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    except FileNotFoundError:
        raise AtelierError("slurm-missing", command=args[0]) from None
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
    def connection(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.workdir / CONNECTION).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    @property
    def key_file(self) -> Path:
        return self.workdir / "gate" / "token"

    @property
    def log(self) -> Path:
        return self.workdir / "job.log"


def submit(script: str, workdir: Path, env: dict[str, str] | None = None) -> str:
    """Submit a session's script; returns the job id."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "session.sbatch"
    path.write_text(script, encoding="utf-8")
    return _slurm(["sbatch", "--parsable", str(path)], env).strip().split(";")[0]


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


def wait_until_ready(job_id: str, workdir: Path, timeout: float, on_state: Callable[[Session], None],
                     env: dict[str, str] | None = None, poll: float = 1.0) -> Session:
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
            raise AtelierError("session-slow", job=job_id, seconds=round(timeout), state=current.state.lower(),
                               reason=current.reason or "none given")
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
        ways["dashboard"] = f"{profile.ondemand_url.rstrip('/')}/rnode/{host}/{port}/atelier/login"
    if profile.login_host and profile.login_host != "127.0.0.1":
        ways["tunnel"] = f"ssh -N -L 8188:{host}:{port} {profile.login_host}"
        ways["local"] = "http://127.0.0.1:8188/atelier/login"
    else:
        ways["local"] = f"http://{host}:{port}/atelier/login"
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
