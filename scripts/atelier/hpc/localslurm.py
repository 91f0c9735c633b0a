"""A real one-node Slurm cluster in a folder, from Debian's packages, for the tests and benchmarks.

munged, slurmctld and slurmd run as children of the caller (root), with their own
configuration, key, sockets, ports, state and logs in a folder, so nothing on the machine
(or in /etc) is used or changed and nothing outlives them. The `slurm` test tier and
benchmarks/sweep.py start it; no command of atelier's does.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from atelier.comfy.server import free_port

PARTITION = "debug"
# Stand-in GPUs: Slurm allocates them as it would real cards (AutoDetect=off, plain files for devices), so
# whole-GPU and shared sessions, and a sweep's tasks, get real allocations and CUDA_VISIBLE_DEVICES.
STAND_IN_DEVICES = ("/dev/null", "/dev/zero")  # one distinct character device per stand-in card
GPUS = len(STAND_IN_DEVICES)
SHARDS = 8  # Slurm's gres/shard: spread evenly over the cards, four a card
CPUS = 4
START_TIMEOUT = 30.0
OUTER_SLURM = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_", "SCANCEL_")
TERMINAL_STATES = frozenset(
    {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT"}
)


def find_daemon(name: str) -> str | None:
    """A daemon's path: Debian puts them in sbin, which an ordinary user's PATH may lack."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


@dataclass
class SlurmCluster:
    """What a caller needs to talk to the cluster: pass `env` to every Slurm command."""

    env: dict[str, str]
    partition: str
    node: str
    conf: Path
    workdir: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command against this cluster, failing with its output."""
        result = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=30, check=False)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def job_state(self, job_id: str) -> str:
        """The job's state as slurmctld knows it (there is no accounting, so no sacct)."""
        shown = self.run("scontrol", "show", "job", "--oneliner", job_id).stdout
        match = re.search(r"\bJobState=(\S+)", shown)
        assert match, f"no JobState for job {job_id}:\n{shown}"
        return match.group(1)

    def wait_for(self, job_id: str, states: str | set[str] | frozenset[str], timeout: float = 30.0) -> str:
        """Poll until the job is in one of `states` and return that state.

        Fails at once if the job ends in some other state, so a test says what happened
        rather than timing out.
        """
        wanted = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        while True:
            state = self.job_state(job_id)
            if state in wanted:
                return state
            if state in TERMINAL_STATES:
                raise AssertionError(
                    f"job {job_id} ended {state}, not {sorted(wanted)}:\n"
                    + self.run("scontrol", "show", "job", job_id).stdout
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {state} after {timeout}s, not {sorted(wanted)}")
            time.sleep(0.2)


def real_memory_mb() -> int:
    """MemTotal less ~2 GB for the system, so Slurm never counts on memory it can't have."""
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE).group(1))
    return max(1024, total_kb // 1024 - 2048)


def slurm_conf(folder: Path, node: str, munge_socket: Path) -> str:
    """slurm.conf for one node that is also the controller, all on 127.0.0.1."""
    # At least four CPUs, whatever the machine has: two shared sessions, a whole-GPU one and a sweep's
    # task must be able to run at once on a 2-core machine (config_overrides lets slurmd accept it).
    cpus = max(CPUS, os.cpu_count() or 1)
    return "\n".join(
        [
            "ClusterName=atelier-test",
            f"SlurmctldHost={node}(127.0.0.1)",
            # Free ports, so a Slurm already on this machine (or another session) doesn't clash.
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={munge_socket}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'slurmd.pid'}",
            # No LogFile: with -D the daemons log to stderr, which the fixture keeps in <daemon>.log.
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "SlurmdParameters=config_overrides",
            # Debian installs no mail program; without this slurmctld logs an error at every start.
            "MailProg=/bin/true",
            # A container: no cgroups, no accounting.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "DefMemPerCPU=1024",
            "KillWait=10",
            "ReturnToService=2",
            "GresTypes=gpu,shard",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={real_memory_mb()} "
            f"Gres=gpu:{GPUS},shard:{SHARDS} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=1-00:00:00 State=UP",
            "",
        ]
    )


def gres_conf(folder: Path) -> str:
    """gres.conf for the stand-in cards, with no detection: slurmd wants a character device for each card, so
    each stand-in is a link to a harmless one that nothing opens (/dev/null, /dev/zero)."""
    devices = folder / "dev"
    devices.mkdir(exist_ok=True)
    for index, target in enumerate(STAND_IN_DEVICES):
        link = devices / f"nvidia{index}"
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    lines = ["AutoDetect=off", f"Name=gpu File={devices}/nvidia[0-{GPUS - 1}]"]
    # One shard line a card: Slurm ties a card's shards to it by its file.
    lines += [f"Name=shard Count={SHARDS // GPUS} File={devices}/nvidia{index}" for index in range(GPUS)]
    return "\n".join([*lines, ""])


def log_tails(folder: Path, lines: int = 30) -> str:
    """The end of each daemon's log, for a failure message that says why."""
    parts = []
    for log in sorted(folder.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
    return "\n".join(parts)


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM one daemon we started, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace)


def _raise(text: str) -> None:
    raise RuntimeError(text)


@contextlib.contextmanager
def local_cluster(folder: Path, fail: Callable[[str], None] = _raise) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd in `folder`; yield once the node is idle; stop them all.

    `fail` is called with the daemons' logs when they do not start (a test fails, a script exits).
    """
    for sub in ("state", "spool", "munge", "work"):
        (folder / sub).mkdir(exist_ok=True)
    node = socket.gethostname().split(".")[0]
    # Our own key: a fresh machine may have none in /etc/munge, and we must not need one.
    key = folder / "munge" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    munge_socket = folder / "munge" / "munge.socket"
    conf = folder / "slurm.conf"
    conf.write_text(slurm_conf(folder, node, munge_socket))
    (folder / "gres.conf").write_text(gres_conf(folder))  # slurmd reads it beside slurm.conf
    # Without the settings of any Slurm job this session itself runs in, which sbatch would obey.
    env = {name: value for name, value in os.environ.items() if not name.startswith(OUTER_SLURM)}
    env["SLURM_CONF"] = str(conf)

    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> subprocess.Popen:
        with open(folder / f"{name}.log", "wb") as out:
            process = subprocess.Popen(
                [find_daemon(name) or name, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        processes.append(process)
        return process

    cluster = SlurmCluster(env=env, partition=PARTITION, node=node, conf=conf, workdir=folder / "work")
    try:
        # --force: munged refuses to run as root without it.
        start(
            "munged",
            "--foreground",
            "--force",
            f"--socket={munge_socket}",
            f"--key-file={key}",
            f"--pid-file={folder / 'munge' / 'munged.pid'}",
            f"--seed-file={folder / 'munge' / 'munged.seed'}",
        )
        _wait(lambda: munge_socket.exists(), folder, processes, "munged to open its socket", fail)
        start("slurmctld", "-D", "-f", str(conf))
        start("slurmd", "-D", "-f", str(conf))
        _wait(lambda: _node_idle(env, node), folder, processes, f"node {node} to be idle in sinfo", fail)
        yield cluster
    finally:
        if len(processes) == 3 and all(p.poll() is None for p in processes):
            cancel_all(env)
        for process in reversed(processes):
            stop(process)


def cancel_all(env: dict[str, str]) -> None:
    """Cancel what tests left, and wait (past KillWait) until slurmd has reaped it all.

    Jobs' slurmstepd processes belong to no one once slurmd stops, so they must end first.
    """
    subprocess.run(["scancel", "--partition", PARTITION], env=env, capture_output=True, timeout=30, check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = subprocess.run(
            ["squeue", "--noheader", "--format=%i"], env=env, capture_output=True, text=True, timeout=10, check=False
        )
        if left.returncode != 0 or not left.stdout.strip():
            return
        time.sleep(0.2)


def _node_idle(env: dict[str, str], node: str) -> bool:
    result = subprocess.run(
        ["sinfo", "--noheader", "--nodes", node, "--format=%T"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.returncode == 0 and result.stdout.strip() == "idle"


def _wait(
    ready: Callable[[], bool], folder: Path, processes: list[subprocess.Popen], what: str, fail: Callable[[str], None]
) -> None:
    """Poll `ready` for up to START_TIMEOUT seconds; fail with the daemons' logs if it never is."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        dead = [Path(p.args[0]).name for p in processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            reason = f"{', '.join(dead)} exited" if dead else f"gave up after {START_TIMEOUT}s"
            fail(f"Slurm did not start: waiting for {what}, {reason}.\n" + log_tails(folder))
        time.sleep(0.2)
