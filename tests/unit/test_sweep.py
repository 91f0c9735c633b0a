"""The sweep's plan, without Slurm or ComfyUI: values, grid, split, resume, the batch script, log lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atelier.comfy import headless
from atelier.hpc import sweep
from atelier.hpc.profiles import load_profile
from atelier.layout import SweepFolder
from atelier.lessons.modules import load_module
from atelier.messages import AtelierError
from atelier.project import find

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "workflows" / "seeds-steps-cfg-samplers"


@pytest.fixture(scope="module")
def nodes():
    return find(ROOT).nodes


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("2,4,7", ("2", "4", "7")),
        ("1..4", ("1", "2", "3", "4")),
        ("2..8:2", ("2", "4", "6", "8")),
        ("0.1..0.5:0.2", ("0.1", "0.3", "0.5")),
        ("1..3, 10", ("1", "2", "3", "10")),
        ('["a harbour, at dawn", "a jug"]', ("a harbour, at dawn", "a jug")),
        ("euler, dpmpp_2m", ("euler", "dpmpp_2m")),
    ],
)
def test_values_are_written_as_lists_ranges_or_yaml_lists(text: str, values: tuple[str, ...]) -> None:
    assert sweep.expand_values("KSampler.cfg", text) == values


@pytest.mark.parametrize("text", ["", "1,,2", "4..2", "1..4:0", "[]", "[unclosed"])
def test_values_that_are_no_list_or_range_are_named(text: str) -> None:
    with pytest.raises(AtelierError) as caught:
        sweep.expand_values("KSampler.cfg", text)
    assert caught.value.code == "sweep-values" and "KSampler.cfg" in str(caught.value)


def test_a_knob_alone_takes_the_lessons_try_values() -> None:
    module = load_module(LESSON)
    axis = sweep.parse_vary("KSampler.cfg", module)
    assert axis == sweep.Axis("KSampler.cfg", ("2.0", "4.0", "7.0", "12.0", "20.0"))
    with pytest.raises(AtelierError) as caught:
        sweep.parse_vary("KSampler.denoise", module)
    assert caught.value.code == "sweep-no-tries"
    with pytest.raises(AtelierError) as caught:
        sweep.parse_vary("cfg=2,3", module)
    assert caught.value.code == "knob-format"


def test_the_grid_is_every_combination_and_each_value_is_checked_first(nodes) -> None:
    axes = [sweep.Axis("KSampler.cfg", ("4", "7")), sweep.Axis("KSampler.seed", ("1", "2", "3"))]
    cells = sweep.grid(axes, ["KSampler.steps=2"])
    assert [c.id for c in cells] == [f"cell-00{i}" for i in range(6)]
    assert cells[1].settings == ("KSampler.steps=2", "KSampler.cfg=4", "KSampler.seed=2")
    job = headless.load_job(LESSON, nodes)
    sweep.check_settings(job, axes, ["KSampler.steps=2"], nodes)
    with pytest.raises(AtelierError) as caught:
        sweep.check_settings(job, [sweep.Axis("KSampler.cfg", ("4", "400"))], [], nodes)
    assert caught.value.code == "knob-value" and "KSampler.cfg=400" in str(caught.value)
    with pytest.raises(AtelierError) as caught:
        sweep.grid([axes[0], axes[0]], [])
    assert caught.value.code == "sweep-axis-twice"
    with pytest.raises(AtelierError) as caught:
        sweep.grid(
            [
                sweep.Axis("KSampler.seed", tuple(map(str, range(200)))),
                sweep.Axis("KSampler.cfg", tuple(map(str, range(100)))),
            ],
            [],
        )
    assert caught.value.code == "sweep-too-big"


def test_cells_are_dealt_out_in_turn_and_never_to_more_tasks_than_cells() -> None:
    cells = sweep.grid([sweep.Axis("KSampler.seed", tuple(map(str, range(5))))], [])
    assert sweep.split(cells, 2) == [["cell-000", "cell-002", "cell-004"], ["cell-001", "cell-003"]]
    assert len(sweep.split(cells, 8)) == 5


def _plan(folder: SweepFolder) -> sweep.SweepPlan:
    axes = [sweep.Axis("KSampler.seed", ("1", "2")), sweep.Axis("KSampler.cfg", ("4", "7"))]
    return sweep.SweepPlan(str(LESSON), axes, [], sweep.grid(axes, []), "local", "cpu", source=str(LESSON))


def test_a_rerun_makes_only_what_is_not_done_and_refuses_another_grid(tmp_path: Path) -> None:
    folder = SweepFolder(tmp_path / "s")
    plan = sweep.open_plan(folder, _plan(folder))
    assert [c.id for c in sweep.left(plan, folder)] == ["cell-000", "cell-001", "cell-002", "cell-003"]
    copied = Path(plan.target)  # the lesson as it was: a change to it later does not reach this sweep's cells
    assert (
        copied == (folder.lesson / LESSON.name).resolve()
        and (copied / "workflow.json").read_bytes() == (LESSON / "workflow.json").read_bytes()
    )
    folder.cells.mkdir()
    folder.cell_record("cell-001").write_text(json.dumps({"id": "cell-001", "status": "done", "settings": []}))
    folder.cell_record("cell-002").write_text(
        json.dumps({"id": "cell-002", "status": "failed", "settings": [], "message": "The GPU ran out of memory"})
    )
    folder.cell_record("cell-003").write_text("{half a fi")  # a task killed while writing: made again
    assert [c.id for c in sweep.left(plan, folder)] == ["cell-000", "cell-002", "cell-003"]
    tally = sweep.tally(plan, folder)
    assert ([r.id for r in tally.done], [r.id for r in tally.failed], [c.id for c in tally.left]) == (
        ["cell-001"],
        ["cell-002"],
        ["cell-000", "cell-003"],
    )
    assert sweep.open_plan(folder, _plan(folder)).same_grid(plan)
    other = _plan(folder)
    other.fixed.append("KSampler.steps=2")
    with pytest.raises(AtelierError) as caught:
        sweep.open_plan(folder, other)
    assert caught.value.code == "sweep-other-grid"
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(AtelierError) as caught:
        sweep.open_plan(SweepFolder(taken), _plan(SweepFolder(taken)))
    assert caught.value.code == "sweep-folder-taken"


def test_the_batch_script_is_one_array_with_the_profiles_gpu_and_a_log_per_task(tmp_path: Path) -> None:
    folder = SweepFolder(tmp_path / "s")
    profile = load_profile("pegasus")
    script = sweep.job_script(_plan(folder), folder, profile, profile.gpu(None), 2, 3, 4)
    lines = script.splitlines()
    assert "#SBATCH --array=0-3" in lines and "#SBATCH --time=02:00:00" in lines
    assert any(line.startswith("#SBATCH --gres=gpu") for line in lines)
    assert f"#SBATCH --output={folder.path}/logs/round-3-task-%a.log" in lines
    assert lines[-1].startswith(f"exec {profile.prefix}/atelier-venv/bin/atelier sweep-task {folder.path} --round 3")
    done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr


def test_a_tasks_log_line_reads_back_as_written() -> None:
    line = sweep.progress_line(2, 6, "cell-004", "done", "3.1 s, KSampler.cfg=4")
    match = sweep.LINE.search(f"12:00:01 {line}")
    assert match and match.group("done", "total", "cell", "state", "detail") == (
        "2",
        "6",
        "cell-004",
        "done",
        "3.1 s, KSampler.cfg=4",
    )


def test_smoke_settings_leave_the_varied_knob_as_it_is(nodes) -> None:
    job = headless.load_job(LESSON, nodes)
    headless.apply_settings(job, ["KSampler.steps=40"], nodes)
    kept = headless.smoke_settings(job, keep={"KSampler.steps"})
    capped = headless.smoke_settings(job)
    steps = [n["inputs"]["steps"] for n in kept.prompt.values() if n["_meta"]["title"] == "KSampler"]
    assert steps == [40]
    assert [n["inputs"]["steps"] for n in capped.prompt.values() if n["_meta"]["title"] == "KSampler"] == [2]


def test_dry_run_needs_no_slurm_and_writes_nothing(tmp_path: Path) -> None:
    vary = ("--vary", "KSampler.cfg", "--vary", "KSampler.seed=1,2")
    command = [sys.executable, "-m", "atelier", "sweep", str(LESSON), *vary, "--gpus", "3"]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "s"), "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "120"},
    )
    assert done.returncode == 0, done.stderr
    assert "10 pictures, 10 to make" in done.stdout and "#SBATCH --array=0-2" in done.stdout
    assert not (tmp_path / "s").exists()


def test_a_cell_that_runs_out_of_memory_is_named_and_the_others_go_on(tmp_path: Path, nodes, monkeypatch) -> None:
    folder = SweepFolder(tmp_path / "s")
    plan = sweep.open_plan(folder, _plan(folder))

    def execute(client, job, out, node_list, timeout, on_progress=None):
        seed = [n for n in job.prompt.values() if n["_meta"]["title"] == "KSampler"][0]["inputs"]["seed"]
        if seed == 2:
            raise AtelierError("out-of-memory", node="5", title="KSampler")
        (out / "atelier").mkdir(parents=True)
        picture = out / "atelier" / "a_00001_.png"
        picture.write_bytes(b"png")
        return headless.RunResult("p", [picture], 1.5, 1.2)

    monkeypatch.setattr(headless, "execute", execute)
    reports: list[sweep.TaskProgress] = []
    made = sweep.run_cells(object(), plan, folder, plan.cells, nodes, "7_0", reports.append)
    assert made == 2
    tally = sweep.tally(plan, folder)
    assert [r.id for r in tally.done] == ["cell-000", "cell-001"]
    assert [(r.id, r.code) for r in tally.failed] == [("cell-002", "out-of-memory"), ("cell-003", "out-of-memory")]
    assert "The GPU ran out of memory in node 5 'KSampler'" in tally.failed[0].message
    assert (
        tally.done[0].outputs == ["cell-000/atelier/a_00001_.png"]
        and (folder.outputs / tally.done[0].outputs[0]).is_file()
    )
    assert [f"{s.cell} {s.state}" for s in reports if s.state != "running"] == [
        "cell-000 done",
        "cell-001 done",
        "cell-002 failed",
        "cell-003 failed",
    ]
    assert not [p for p in folder.outputs.iterdir() if p.name.startswith(".")]  # no half-made folder left
    # Run again: what is done is skipped, the failed ones are tried again.
    reports.clear()
    sweep.run_cells(object(), plan, folder, plan.cells, nodes, "8_0", reports.append)
    assert [s.state for s in reports if s.cell in ("cell-000", "cell-001")] == ["skipped", "skipped"]
    assert [s.cell for s in reports if s.state == "running"] == ["cell-002", "cell-003"]


def test_squeue_s_array_lines_are_read_task_by_task(monkeypatch) -> None:
    from atelier.hpc import slurm

    answers = {"listed": "0|RUNNING|None\n1|PENDING|Resources\nN/A|PENDING|None\n3|COMPLETED|None\n"}

    def fake(args: list[str], env=None) -> str:
        if answers.get("gone"):
            raise AtelierError(
                "slurm-refused", command="squeue", reason="slurm_load_jobs error: Invalid job id specified"
            )
        return answers["listed"]

    monkeypatch.setattr(slurm, "_slurm", fake)
    assert slurm.array_tasks("7") == {0: ("RUNNING", ""), 1: ("PENDING", "Resources"), 3: ("COMPLETED", "")}
    answers["gone"] = True
    assert slurm.array_tasks("7") == {}


def test_a_round_is_followed_by_slurm_s_state_and_a_finished_or_unsubmitted_one_counts_as_ended(
    tmp_path: Path, monkeypatch
) -> None:
    from atelier.hpc import slurm

    folder = SweepFolder(tmp_path / "s")
    plan = sweep.open_plan(folder, _plan(folder))
    plan.rounds.append({"round": 1, "job": "7", "tasks": [["cell-000", "cell-002"], ["cell-001", "cell-003"]]})
    folder.logs.mkdir()
    folder.task_log(1, 0).write_text(
        "10:00:00 sweep 0/2 - starting: ComfyUI on n1\n"
        "10:00:09 sweep 1/2 cell-000 done: 3.0 s, KSampler.seed=1, KSampler.cfg=4\n"
    )
    monkeypatch.setattr(slurm, "array_tasks", lambda job, env=None: {0: ("RUNNING", ""), 1: ("COMPLETED", "")})
    states = sweep.task_states(plan, folder)
    assert [(t.state, t.done, t.total) for t in states] == [("RUNNING", 1, 2), ("ENDED", 0, 2)]
    assert states[0].last == "cell-000 done: 3.0 s, KSampler.seed=1, KSampler.cfg=4" and sweep.running(states)
    plan.rounds[-1]["job"] = ""  # a round whose sbatch never answered is not waited for
    assert not sweep.running(sweep.task_states(plan, folder))


def test_a_submission_that_fails_or_is_interrupted_leaves_no_round_behind(tmp_path: Path, monkeypatch) -> None:
    from atelier.hpc import slurm

    folder = SweepFolder(tmp_path / "s")
    plan = sweep.open_plan(folder, _plan(folder))

    def interrupted(path, env=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm, "submit_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep.submit(plan, folder, "#!/bin/bash\n", [["cell-000"]], 1.0)
    assert sweep.load_plan(folder).rounds == []
    monkeypatch.setattr(slurm, "submit_file", lambda path, env=None: "12")
    assert sweep.submit(plan, folder, "#!/bin/bash\n", [["cell-000"]], 1.0) == "12"
    assert [(r["round"], r["job"], r["hours"]) for r in sweep.load_plan(folder).rounds] == [(1, "12", 1.0)]
