"""Shares of a GPU in a cluster profile, the fence's arithmetic, and the class plan's figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from atelier.comfy.extensions import atelier_share
from atelier.hpc import classplan
from atelier.hpc.profiles import CLUSTERS, comfyui_args, load_profile, sbatch_options
from atelier.lessons.modules import load_module
from atelier.messages import AtelierError
from atelier.site.pages import teach

ROOT = Path(__file__).resolve().parents[2]
FIRST = load_module(ROOT / "workflows" / "txt2img-basics")  # 35 minutes, 4 GB
SDXL = load_module(ROOT / "workflows" / "sdxl-basics")  # 10 GB


def pegasus_with_quarters(tmp_path: Path, **quarter: Any) -> Path:
    """Pegasus with a quarter of an A100 on a partition of shared nodes of its own."""
    data = yaml.safe_load((CLUSTERS / "pegasus.yaml").read_text())
    data["gpus"]["a100-quarter"] = {
        "title": "A quarter of an A100 (20 GB)",
        "partition": "gpu-shared",
        "gres": "shard:1",
        "share": "shard",
        "of": "a100",
        "per_gpu": 4,
        "memory_gb": 20,
        **quarter,
    }
    path = tmp_path / "pegasus.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_share_asks_slurm_for_its_shard_and_keeps_comfyui_to_its_memory(tmp_path: Path) -> None:
    profile = load_profile(str(pegasus_with_quarters(tmp_path)))
    quarter = profile.gpus["a100-quarter"]
    assert "--gres=shard:1" in sbatch_options(profile, quarter)
    assert comfyui_args(profile, quarter)[-2:] == ["--share-gb", "20"]
    assert "--share-gb" not in comfyui_args(profile, profile.gpus["a100"])
    mig = load_profile(str(pegasus_with_quarters(tmp_path, share="mig", gres="gpu:1g.10gb:1")))
    assert "--share-gb" not in comfyui_args(mig, mig.gpus["a100-quarter"])  # the hardware fences a MIG slice


@pytest.mark.parametrize(
    ("quarter", "field", "problem"),
    [
        ({"share": "half"}, "gpus.a100-quarter.share", "is 'half'; a share is one of shard, mig"),
        (
            {"of": "h100"},
            "gpus.a100-quarter.of",
            "is 'h100', not a whole-GPU choice of this profile (v100, a100, l40s)",
        ),
        ({"per_gpu": 1}, "gpus.a100-quarter.per_gpu", "is 1; a share is one of at least 2 on a card"),
        (
            {"per_gpu": 5},
            "gpus.a100-quarter.memory_gb",
            "is 20 GB; 5 shares of it are more than NVIDIA A100 (80 GB)'s 80 GB",
        ),
        (
            {"memory_gb": None},
            "gpus.a100-quarter.memory_gb",
            "is needed for a share: the form offers it only for lessons that fit",
        ),
        ({"stand_in": True}, "gpus.a100-quarter.stand_in", "is for the test machine's profile only (for_tests: true)"),
        (
            {"partition": "gpu"},
            "gpus.a100.gres",
            "is gpu:a100:1 on partition gpu, where a100-quarter shares cards: Slurm may put a whole-GPU session on a "
            "card whose shares are taken; ask for all of a card's shares (shard:4), or give the shares a partition of "
            "their own",
        ),
    ],
)
def test_a_wrong_share_is_refused_naming_file_and_field(
    tmp_path: Path, quarter: dict, field: str, problem: str
) -> None:
    path = pegasus_with_quarters(tmp_path, **quarter)
    with pytest.raises(AtelierError) as err:
        load_profile(str(path))
    assert err.value.text == f"{path}: '{field}' {problem}."


def test_the_fence_keeps_a_session_to_its_share_of_the_card() -> None:
    gb = 1024**3
    assert atelier_share.fenced_total(80 * gb, 20 * gb) == 20 * gb
    assert atelier_share.fenced_total(16 * gb, 20 * gb) == 16 * gb  # a share bigger than the card: the card
    assert atelier_share.fenced_free(60 * gb, 5 * gb, 20 * gb) == 15 * gb  # its share less what it holds
    assert atelier_share.fenced_free(3 * gb, 5 * gb, 20 * gb) == 3 * gb  # the neighbours took the rest
    assert atelier_share.fenced_free(60 * gb, 25 * gb, 20 * gb) == 0
    assert atelier_share.is_out_of_memory({"exception_type": "torch.OutOfMemoryError", "exception_message": ""})
    assert not atelier_share.is_out_of_memory({"exception_type": "ValueError", "exception_message": "bad"})


def test_a_full_share_tells_the_student_in_plain_words_after_comfyui_s_error() -> None:
    sent: list[tuple[str, Any]] = []
    send = atelier_share.notify_when_full(lambda event, data, sid=None: sent.append((event, data)), "Full.")
    send("execution_error", {"exception_type": "torch.OutOfMemoryError", "exception_message": "CUDA out of memory"})
    send("executing", {"node": "3"})
    assert [event for event, _ in sent] == ["execution_error", atelier_share.EVENT, "executing"]
    assert sent[1][1] == {"severity": "error", "text": "Full."}


def test_a_class_on_quarters_holds_a_quarter_of_the_cards(tmp_path: Path) -> None:
    profile = load_profile(str(pegasus_with_quarters(tmp_path)))
    plans = {p.gpu.name: p for p in classplan.plan([profile], FIRST, 22, [])}
    whole, quarter = plans["a100"], plans["a100-quarter"]
    assert (whole.cards, whole.gpu_hours) == (22, 22)
    assert (quarter.cards, quarter.gpu_hours, quarter.fits) == (6, 5.5, True)
    assert whole.waiting(10) == (12, 2)  # 10 start, 12 wait: the second round, then a third for the last 2
    assert quarter.waiting(10) == (0, 0)
    assert quarter.waiting(0) == (22, 0)
    assert quarter.slowdown == (4.0, False)  # estimated: the card's time split four ways
    eighths = load_profile(str(pegasus_with_quarters(tmp_path, memory_gb=8, per_gpu=8)))
    assert not {p.gpu.name: p for p in classplan.plan([eighths], SDXL, 22, [])}["a100-quarter"].fits  # 10 GB


def test_a_recorded_run_makes_the_slowdown_measured(tmp_path: Path) -> None:
    record = {
        "cluster": "pegasus",
        "gpu": "a100",
        "device": "NVIDIA A100-SXM4-80GB",
        "lesson": "txt2img-basics",
        "date": "2026-12-06T10:00:00+00:00",
        "rows": [
            {"sessions": 1, "pictures_per_minute": 30, "seconds_per_picture": 2.0, "peak_memory_gb": 3.1},
            {"sessions": 4, "pictures_per_minute": 60, "seconds_per_picture": 4.0, "peak_memory_gb": 12.5},
        ],
    }
    (tmp_path / "run.json").write_text(json.dumps(record))
    measured = classplan.read_measured(tmp_path)
    profile = load_profile(str(pegasus_with_quarters(tmp_path)))
    quarter = {p.gpu.name: p for p in classplan.plan([profile], FIRST, 20, measured)}["a100-quarter"]
    assert quarter.slowdown == (2.0, True)
    (tmp_path / "bad.json").write_text(json.dumps({"cluster": "pegasus"}))
    with pytest.raises(AtelierError) as err:
        classplan.read_measured(tmp_path)
    assert err.value.code == "bench-results-bad" and "bad.json" in str(err.value)


def test_a_semester_on_quarters_books_whole_cards_for_the_weeks_that_do_not_fit(tmp_path: Path) -> None:
    eighths = load_profile(str(pegasus_with_quarters(tmp_path, memory_gb=8, per_gpu=8)))
    plans = {p.gpu.name: p for p in classplan.plan([eighths], FIRST, 20, [])}
    weeks = [(FIRST,), (SDXL,)]
    assert classplan.semester_hours(plans["a100"], weeks) == 40  # 20 students, 1 hour, two weeks
    assert classplan.semester_hours(plans["a100-quarter"], weeks) == 2.5 + 20  # SDXL's 10 GB week on whole cards


def test_teach_marks_every_shared_figure_estimated_until_a_run_is_recorded(tmp_path: Path) -> None:
    profile = load_profile(str(pegasus_with_quarters(tmp_path)))
    modules = [FIRST, SDXL]
    text = teach.class_plan_table([profile], modules, [])
    row = next(line for line in text.splitlines() if "A quarter of an A100" in line)
    assert row.split(" | ")[2:5] == ["4", "5", "5"]
    assert "4.0× slower (estimated)" in row
    assert "*Estimated* in the last column" in text
    alone = teach.class_plan_table([load_profile("pegasus")], modules, [])
    assert "No cluster offers shares of a GPU yet" in alone


def test_class_plan_prints_the_figures_for_a_lesson(tmp_path: Path) -> None:
    path = pegasus_with_quarters(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "atelier",
            "class",
            "plan",
            "txt2img-basics",
            "--students",
            "22",
            "--cluster",
            str(path),
            "--free",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert "Your first image: 35 minutes, so each student books 1 hour; it needs 4 GB of GPU memory." in done.stdout
    quarter = next(line for line in done.stdout.splitlines() if "A quarter of an A100" in line)
    cells = [cell.strip() for cell in quarter.split("│")[1:-1]]
    assert cells == [
        "A quarter of an A100 (20 GB)",
        "4",
        "6",
        "5.5",
        cells[4],
        "10 wait up to 1 hour",
        "4.0× slower (estimated)",
    ]
