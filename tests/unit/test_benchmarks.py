"""The benchmark scripts stay runnable: each imports, answers --help from a fresh clone, and
the one that needs nothing but the package runs on tiny inputs here.

The others run on their tiniest inputs in the tier that has what they need:
benchmarks/lessons.py in tests/comfyui, sweep.py in tests/slurm (with ComfyUI), site.py
in tests/site. No benchmark imports from tests/: a maintainer runs them from a checkout
whose tests may not be importable, and a script's folder, not the checkout, is on its path.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
NAMES = [path.name for path in BENCHMARKS]


def run_benchmark(name: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """`python benchmarks/<name> ...` from the checkout's root, as the Benchmarks page says to run it."""
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only what a fresh shell has
    return subprocess.run(
        [sys.executable, f"benchmarks/{name}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **env},
    )


def test_there_are_benchmarks() -> None:
    assert {"keep.py", "lessons.py", "site.py", "sweep.py"} <= set(NAMES)


@pytest.mark.parametrize("path", BENCHMARKS, ids=NAMES)
def test_each_benchmark_imports_nothing_from_tests(path: Path) -> None:
    imported = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
        elif isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
    assert [name for name in imported if name.split(".")[0] == "tests"] == []


@pytest.mark.parametrize("path", BENCHMARKS, ids=NAMES)
def test_each_benchmark_imports(path: Path) -> None:
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its main() runs only as a script
    assert callable(module.main)


@pytest.mark.parametrize("name", NAMES)
def test_each_benchmark_answers_help_from_the_checkout(name: str) -> None:
    done = run_benchmark(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {name} "), done.stdout
    assert done.stderr == ""


def test_keep_runs_on_a_few_small_outputs() -> None:
    done = run_benchmark("keep.py", "--count", "3", "--size", "64")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("3 outputs of 64 x 64 px, ")
    assert [line.split(":")[0] for line in lines[1:]] == [
        "ledger scan, first",
        "ledger scan, nothing new",
        "compare, thumbnails made",
        "compare, thumbnails reused",
    ]
