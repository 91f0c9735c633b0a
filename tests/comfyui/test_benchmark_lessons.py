"""benchmarks/lessons.py on its tiniest input: one lesson's smoke check on a real ComfyUI."""

from __future__ import annotations

from tests.unit.test_benchmarks import run_benchmark


def test_the_lesson_benchmark_times_one_lesson() -> None:
    done = run_benchmark("lessons.py", "--module", "txt2img-basics", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("ComfyUI ready after start: ")
    assert lines[2].startswith("smoke check: 1 modules run, 0 without CPU test models, 1 passed, ")
    assert lines[-1].split()[:2] == ["txt2img-basics", "passed"], done.stdout
