"""Start-up of each tool next to ComfyUI's: seconds from `atelier serve` to "ready", in one run.

Run (with the semester's atelier.env sourced, or ATELIER_PREFIX naming a prefix that holds the
tools, and COMFYUI_DIR/COMFYUI_PYTHON naming ComfyUI):
    .venv/bin/python benchmarks/tools.py --models STORE [--rounds 5] [--json FILE]
Each round starts every tool once, in turn (ComfyUI first), so the machine's drift touches all
alike; a tool's ratio to ComfyUI is taken round by round and its median reported. "Ready" is
what a student waits for: the session's gate answers and its tool has passed its health check.
With --once TOOL it starts that one tool, waits until ready and stops it: a command to time
whole, paired with another.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATELIER = Path(sys.executable).parent / "atelier"


def ready_seconds(tool: str, models: Path) -> float:
    """Seconds from starting `atelier serve --tool TOOL` to its line saying it is ready; then it is stopped."""
    with tempfile.TemporaryDirectory(prefix=f"atelier-bench-{tool}-") as folder:
        extra = ["--cpu"] if tool == "comfyui" else []
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(ATELIER), "serve", "--tool", tool, *extra, "--workdir", folder, "--models", str(models)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            for line in process.stdout or []:
                if " is ready at " in line:
                    return time.perf_counter() - started
            raise SystemExit(f"{tool} did not start: see {folder}")
        finally:
            process.terminate()
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="the store with each tool's (test) models")
    parser.add_argument("--tools", nargs="+", default=["comfyui", "invokeai", "rembg"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--once", metavar="TOOL", help="start only this tool once, until ready, then stop it")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.once:
        print(f"{args.once}: ready in {ready_seconds(args.once, args.models):.2f} s")
        return
    seconds: dict[str, list[float]] = {tool: [] for tool in args.tools}
    for round_number in range(1, args.rounds + 1):
        for tool in args.tools:
            seconds[tool].append(ready_seconds(tool, args.models))
        print(f"round {round_number}: " + ", ".join(f"{t} {s[-1]:.2f} s" for t, s in seconds.items()), flush=True)
    base = args.tools[0]
    figures = {
        tool: {
            "median_s": round(statistics.median(values), 2),
            "min_s": round(min(values), 2),
            "max_s": round(max(values), 2),
            f"ratio_to_{base}": round(statistics.median(v / b for v, b in zip(values, seconds[base], strict=True)), 2),
        }
        for tool, values in seconds.items()
    }
    print(f"{'tool':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'/ ' + base:>10}")
    for tool, f in figures.items():
        print(f"{tool:<10} {f['median_s']:>9} {f['min_s']:>7} {f['max_s']:>7} {f[f'ratio_to_{base}']:>10}")
    if args.json:
        args.json.write_text(json.dumps({"rounds": args.rounds, "tools": figures}, indent=1) + "\n")


if __name__ == "__main__":
    main()
