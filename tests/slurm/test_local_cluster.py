"""What the lesson check's job relies on from Slurm, against a real single-node cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.slurm.conftest import SlurmCluster


def submit(slurm: SlurmCluster, name: str, body: str, *options: str) -> tuple[str, Path]:
    """sbatch a bash script from the cluster's workdir; return (job id, its output file)."""
    script = slurm.workdir / f"{name}.sbatch"
    script.write_text(f"#!/bin/bash\n{body}\n")
    output = slurm.workdir / f"{name}.out"
    job_id = slurm.run(
        "sbatch",
        "--parsable",
        f"--job-name={name}",
        f"--partition={slurm.partition}",
        f"--chdir={slurm.workdir}",
        f"--output={output}",
        *options,
        str(script),
    ).stdout.strip()
    assert job_id.isdigit(), job_id
    return job_id, output


def wait_for_file(path: Path, timeout: float = 10.0) -> str:
    """A file a job writes may land a moment after the controller records the job's end."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.1)
    return path.read_text()


def test_batch_job_runs_and_writes_its_output(slurm: SlurmCluster) -> None:
    job_id, output = submit(slurm, "hello", 'echo "on $(hostname -s) in $SLURM_JOB_PARTITION"')

    assert slurm.wait_for(job_id, "COMPLETED") == "COMPLETED"
    assert wait_for_file(output).strip() == f"on {slurm.node} in {slurm.partition}"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs for two 1-CPU jobs")
def test_two_one_cpu_jobs_run_at_the_same_time(slurm: SlurmCluster) -> None:
    # Each job holds its CPU until the test has seen both running, then releases them.
    release = slurm.workdir / "release-pair"
    release.unlink(missing_ok=True)
    hold = f"for _ in $(seq 600); do [ -e {release} ] && exit 0; sleep 0.1; done\nexit 1"
    jobs = [submit(slurm, f"pair-{n}", hold, "--ntasks=1", "--cpus-per-task=1")[0] for n in (1, 2)]

    for job_id in jobs:
        assert slurm.wait_for(job_id, "RUNNING", timeout=15) == "RUNNING"
    running = slurm.run("squeue", "--noheader", "--states=RUNNING", "--format=%i").stdout.split()
    assert set(jobs) <= set(running)

    release.touch()
    for job_id in jobs:
        assert slurm.wait_for(job_id, "COMPLETED") == "COMPLETED"


def test_scancel_sends_sigterm_to_the_batch_script(slurm: SlurmCluster) -> None:
    marker = slurm.workdir / "terminated"
    child = slurm.workdir / "child.pid"
    body = f"trap 'echo TERM > {marker}; exit 0' TERM\nsleep 300 &\necho $! > {child}\nwait $!\necho not reached"
    job_id, output = submit(slurm, "trap-term", body)
    slurm.wait_for(job_id, "RUNNING")
    child_pid = wait_for_file(child).strip()  # the trap is set once the pid is written

    # Plain scancel SIGTERMs every process of the job, batch shell included, and SIGKILLs
    # only after KillWait; `scancel --signal=TERM --batch` reaches the shell alone (so bash
    # waits for a foreground child first, and a child left when the shell exits outlives the
    # job under proctrack/linuxproc), and `--signal=TERM` without --batch not at all.
    slurm.run("scancel", job_id)

    assert slurm.wait_for(job_id, "CANCELLED") == "CANCELLED"
    assert wait_for_file(marker).strip() == "TERM"
    deadline = time.monotonic() + 15  # KillWait=10, then SIGKILL
    while Path(f"/proc/{child_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{child_pid}").exists(), "the job's child outlived scancel"
    assert "not reached" not in output.read_text()
