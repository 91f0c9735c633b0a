"""benchmarks/sweep.py on its tiniest input: one pair of one-seed sweeps, on its own Slurm cluster."""

from __future__ import annotations

from tests.slurm.test_sessions import needs_comfyui
from tests.unit.test_benchmarks import run_benchmark


@needs_comfyui
def test_the_sweep_benchmark_times_one_pair() -> None:
    done = run_benchmark("sweep.py", "--pairs", "1", "--seeds", "1", timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("grid: 2 pictures of txt2img-basics, "), done.stdout
    assert lines[1].startswith("1 task : wall ") and lines[2].startswith("2 tasks: wall "), done.stdout
    assert lines[3].startswith("ratio 1 task / 2 tasks, pair by pair: "), done.stdout
