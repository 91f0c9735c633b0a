"""The backup a session runs, as a real Slurm job: every few minutes, and once more on Slurm's SIGTERM."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path

from tests.slurm.conftest import SlurmCluster

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


def wait_until(check, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {timeout} s; job log:\n{log.read_text() if log.exists() else '-'}")
        time.sleep(0.2)


def test_the_job_backs_up_once_more_when_slurm_ends_it(slurm: SlurmCluster, webdav, tmp_path: Path) -> None:
    outputs = Path(shutil.copytree(FIXTURES / "txt2img", tmp_path / "outputs"))
    log = tmp_path / "job.log"
    command = [
        sys.executable,
        "-m",
        "atelier",
        "backup",
        "--outputs",
        str(outputs),
        "--to",
        "test:Atelier",
        "--every",
        "60",
    ]
    job_id = (
        slurm.run(
            "sbatch",
            "--parsable",
            f"--partition={slurm.partition}",
            f"--output={log}",
            f"--chdir={tmp_path}",
            "--time=10",
            f"--export=ALL,RCLONE_CONFIG={webdav.config}",
            "--wrap",
            "exec " + shlex.join(command),
        )
        .stdout.strip()
        .split(";")[0]
    )
    slurm.wait_for(job_id, "RUNNING", timeout=30)
    remote = webdav.root / "Atelier" / "outputs" / "atelier"
    # The round is over when the job says so; the files land on the remote a moment before.
    wait_until(lambda: log.exists() and "Backed up 4 " in log.read_text(), 30, "the first backup had not finished", log)
    assert len(list(remote.glob("*.png"))) == 4
    late = outputs / "atelier" / "late.png"
    shutil.copy(outputs / "atelier" / "txt2img_00001_.png", late)  # made after the last scheduled round
    slurm.run("scancel", job_id)
    slurm.wait_for(job_id, {"CANCELLED", "COMPLETED"}, timeout=60)
    assert (remote / "late.png").read_bytes() == late.read_bytes()
    lines = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    assert lines[0] == f"Backing up {outputs} to test:Atelier every 60 min; once more when stopped."
    assert lines[1].startswith("Backed up 4 new or changed files to test:Atelier/outputs (0 already there)")
    assert lines[-1].startswith("Backed up 1 new or changed file to test:Atelier/outputs (4 already there)")
