"""benchmarks/site.py on its tiniest input: one build, two pages weighed in Chromium."""

from __future__ import annotations

import re

from tests.unit.test_benchmarks import run_benchmark


def test_the_site_benchmark_times_one_build_and_weighs_two_pages() -> None:
    done = run_benchmark("site.py", "--builds", "1", "--pages", "2", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"build: [\d.]+ s \(median of 1\), 2 pages", lines[0]), done.stdout
    assert len(lines) == 3 and all(re.fullmatch(r" *[\d.]+ KiB  \S+", line) for line in lines[1:]), done.stdout
