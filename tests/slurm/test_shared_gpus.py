"""Shared and whole GPUs as real Slurm allocations, on the test node's two stand-in cards.

hpc/localslurm.py gives the node `gpu:2` and `shard:8` (four shares a card) in gres.conf,
with AutoDetect=off and a stand-in device file for each card, so Slurm allocates them as it
would real ones and sets CUDA_VISIBLE_DEVICES. The `local` profile's `quarter` (shard:1, one of
four) and `card` (shard:4: a whole card as all its shares) are the choices a student's session
asks for. Without a ComfyUI (CI), the allocations are held by jobs with the profile's own sbatch
options; with COMFYUI_DIR set, by real sessions from `atelier launch`.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from atelier.hpc.profiles import load_profile, sbatch_options
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_local_cluster import submit
from tests.slurm.test_sessions import atelier, launch, needs_comfyui
from tests.slurm.test_sweep import GRID, LESSON

PROFILE = load_profile("local")


def hold(slurm: SlurmCluster, choice: str, name: str) -> tuple[str, Path]:
    """A job with the profile's sbatch options for `choice` that says its card and holds it; (job id, its log)."""
    options = [*sbatch_options(PROFILE, PROFILE.gpus[choice]), "--time=00:10:00"]
    return submit(slurm, name, 'echo "GPU=${CUDA_VISIBLE_DEVICES:-none}"\nexec sleep 300', *options)


def card_of(log: Path, timeout: float = 20) -> str:
    """The card a job was given, from the line it wrote first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"GPU[= ](\S+)", log.read_text() if log.is_file() else "")
        if found:
            return found.group(1).rstrip(",")
        time.sleep(0.2)
    raise AssertionError(f"{log} never said which GPU it has")


def reason(slurm: SlurmCluster, job: str) -> str:
    return slurm.run("squeue", "-h", "-j", job, "-o", "%r").stdout.strip()


def test_two_shares_sit_on_one_card_and_a_whole_card_waits_until_both_end(slurm: SlurmCluster) -> None:
    first, first_log = hold(slurm, "quarter", "share-1")
    second, second_log = hold(slurm, "quarter", "share-2")
    slurm.wait_for(first, "RUNNING")
    slurm.wait_for(second, "RUNNING")
    assert card_of(first_log) == card_of(second_log) == "0"  # two students, one card

    whole, whole_log = hold(slurm, "card", "whole-1")
    slurm.wait_for(whole, "RUNNING")
    assert card_of(whole_log) == "1"  # the other card, whole
    refused, refused_log = hold(slurm, "card", "whole-2")
    time.sleep(3)
    assert (slurm.job_state(refused), reason(slurm, refused)) == ("PENDING", "Resources")

    slurm.run("scancel", first)
    slurm.wait_for(first, "CANCELLED")
    time.sleep(3)  # one share is still taken on card 0: the whole card still waits
    assert slurm.job_state(refused) == "PENDING"
    slurm.run("scancel", second)
    slurm.wait_for(refused, "RUNNING", timeout=60)
    assert card_of(refused_log) == "0"


def test_a_share_too_small_for_the_lesson_is_refused_before_anything_is_submitted(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    done = launch(slurm, tmp_path, tmp_path / "s", tmp_path / "o", "--gpu", "quarter", "--module", "sdxl-basics")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "Error: The lesson 'Bigger pictures with SDXL' needs 10 GB of GPU memory, and A quarter of a stand-in card "
        "(5 GB) gives 5 GB. Choose a GPU that fits it: cpu, card."
    )
    assert slurm.run("squeue", "-h").stdout.strip() == ""


def test_a_sweep_s_two_tasks_get_different_cards(slurm: SlurmCluster, tmp_path: Path) -> None:
    """Each task of the array says its card first, whether or not its ComfyUI then starts."""
    folder = tmp_path / "sweep"
    atelier(slurm, "sweep", LESSON, *GRID, "--gpus", "2", "--gpu", "card", "--out", str(folder), comfyui=False)
    cards = [card_of(folder / "logs" / f"round-1-task-{task}.log") for task in (0, 1)]
    assert sorted(cards) == ["0", "1"], cards


@needs_comfyui
def test_two_shared_sessions_run_on_one_card_each_within_its_share(slurm: SlurmCluster, tmp_path: Path) -> None:
    sessions = []
    for name in ("ana", "ben"):
        folder = tmp_path / name
        done = launch(slurm, tmp_path / name, folder, tmp_path / name / "out", "--gpu", "quarter", "--wait", "170")
        assert done.returncode == 0, done.stdout + done.stderr
        sessions.append((done.stdout.split("Submitted job ")[1].split()[0], folder))
    for _, folder in sessions:
        connection = json.loads((folder / "connection.json").read_text())
        assert (connection["gpus"], connection["share_gb"]) == ("0", 5)
        assert "GPU 0" in (folder / "job.log").read_text().splitlines()[0]
        # The stand-in card has no CUDA: the fence says so in ComfyUI's log and changes nothing.
        assert (
            "atelier share: this session's share of the GPU: no CUDA card here" in (folder / "comfyui.log").read_text()
        )

    # Card 1 goes whole to a third student; a fourth asks for a whole card and is told it is queued.
    whole = launch(slurm, tmp_path / "cy", tmp_path / "cy", tmp_path / "cy" / "out", "--gpu", "card", "--wait", "170")
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert json.loads((tmp_path / "cy" / "connection.json").read_text())["gpus"] == "1"
    queued = launch(slurm, tmp_path / "di", tmp_path / "di", tmp_path / "di" / "out", "--gpu", "card", "--wait", "15")
    assert queued.returncode == 1
    assert "was still pending after 15 s (Slurm's reason: Resources)" in queued.stderr, queued.stderr
    for job, _ in sessions:
        assert atelier(slurm, "stop", job).returncode == 0
    job = queued.stdout.split("Submitted job ")[1].split()[0]
    slurm.wait_for(job, "RUNNING", timeout=90)
    assert card_of(tmp_path / "di" / "job.log") == "0"


def test_this_slurm_puts_a_gpu_job_beside_shards_so_profiles_ask_a_whole_card_as_its_shares(
    slurm: SlurmCluster,
) -> None:
    """Why the profile check refuses a `gpu:` whole card on a partition whose cards are shared: this Slurm (Debian
    12's 22.05) gives a gpu:1 job the card whose shards are taken. If a newer Slurm keeps them apart, this fails,
    and the check (profiles._check_shares) and Runbook → Shared GPUs can say so."""
    share, share_log = hold(slurm, "quarter", "beside-1")
    slurm.wait_for(share, "RUNNING")
    body = 'echo "GPU=${CUDA_VISIBLE_DEVICES:-none}"\nexec sleep 300'
    whole, log = submit(slurm, "gpu-1", body, "--gres=gpu:1", "--cpus-per-task=1", "--mem=100M")
    slurm.wait_for(whole, "RUNNING")
    assert card_of(log) == card_of(share_log) == "0"
