"""N ComfyUI sessions side by side on one card, each making a lesson's picture in a loop.

Run on a GPU node, as a job holding one whole card of a profile's choice (the job's card is the
one CUDA_VISIBLE_DEVICES names), with COMFYUI_DIR/COMFYUI_PYTHON (or a sourced atelier.env)
naming ComfyUI and --models the store:
    .venv/bin/python benchmarks/shared_gpu.py --cluster pegasus --gpu a100 --models STORE \
        [--sessions 1 2 4 8] [--pictures 6] [--lesson txt2img-basics] [--share-gb 20]
For each N it starts N sessions (as `atelier serve` starts ComfyUI: its own folders, the
share's memory fence with --share-gb), lets each make one picture to warm up, then has all of
them make --pictures pictures at once. It reports, per N, pictures a minute for the whole
card, seconds a picture for one student, and the card's peak memory (nvidia-smi; on a CPU,
the sessions' resident memory). The JSON goes to docs/benchmarks/shared/, where Teach → Planning
GPU time reads it and marks its figures measured. --cpu runs the same loop without a GPU (a
check of the script, with --smoke settings); its figures are never written there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from atelier.cli.comfyui import ComfyChoice  # noqa: E402
from atelier.comfy.headless import apply_settings, execute, load_job, smoke_settings  # noqa: E402
from atelier.hpc.classplan import SHARED_RECORDS  # noqa: E402
from atelier.lessons.modules import load_module  # noqa: E402
from atelier.project import Project  # noqa: E402


class Memory:
    """The peak memory while sessions run, sampled twice a second: the card's, or the processes' on a CPU."""

    def __init__(self, pids: list[int], cpu: bool) -> None:
        self.pids, self.cpu, self.peak, self._stop = pids, cpu, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _now_gb(self) -> float:
        if self.cpu:
            total = 0
            for pid in self.pids:
                status = Path(f"/proc/{pid}/status")
                found = re.search(r"VmRSS:\s+(\d+) kB", status.read_text()) if status.exists() else None
                total += int(found.group(1)) if found else 0
            return total / 1024**2
        used = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(used.stdout.split()[0]) / 1024  # the job's card: nvidia-smi lists only it

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._now_gb())
            time.sleep(0.5)

    def __enter__(self) -> Memory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(n: int, args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """N sessions making args.pictures each at once: pictures a minute, seconds a picture, peak memory in GB."""
    project = Project(ROOT)
    node_list = project.nodes
    module = load_module(project.workflows / args.lesson)
    job = load_job(module.folder, node_list)
    job = smoke_settings(job) if args.smoke else job
    choice = ComfyChoice(os.environ.get("COMFYUI_DIR"), os.environ.get("COMFYUI_PYTHON"), args.models, args.cpu)
    servers = [choice.server(folder / f"session-{i}", share_gb=args.share_gb) for i in range(n)]
    times: list[float] = []
    lock = threading.Lock()
    try:
        for server in servers:
            server.start(timeout=600)
        clients = [server.client(timeout=600) for server in servers]
        for index, client in enumerate(clients):  # warm: models loaded, nothing counted
            execute(client, job, folder / f"warm-{index}", node_list)

        def loop(index: int, client: object) -> None:
            for count in range(args.pictures):
                picture = replace(job, prompt=json.loads(json.dumps(job.prompt)))
                # A new seed each time: ComfyUI would serve a repeated prompt from its cache.
                apply_settings(picture, [f"{args.seed_knob}={1000 * (index + 1) + count}"], node_list)
                started = time.monotonic()
                execute(client, picture, folder / f"out-{index}", node_list)
                with lock:
                    times.append(time.monotonic() - started)

        with Memory([s.process.pid for s in servers if s.process], args.cpu) as memory:
            began = time.monotonic()
            threads = [threading.Thread(target=loop, args=(i, c)) for i, c in enumerate(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
    finally:
        for server in servers:
            server.stop()
    return {
        "sessions": n,
        "pictures": len(times),
        "pictures_per_minute": round(60 * len(times) / elapsed, 2),
        "seconds_per_picture": round(statistics.mean(times), 2) if times else 0.0,
        "peak_memory_gb": round(memory.peak, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cluster", required=True, help="the profile whose card this runs on")
    parser.add_argument("--gpu", required=True, help="the profile's whole-GPU choice this job holds")
    parser.add_argument("--models", type=Path, required=True, help="the model store")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--pictures", type=int, default=6, help="pictures each session makes, all at once")
    parser.add_argument("--lesson", default="txt2img-basics")
    parser.add_argument("--seed-knob", default="KSampler.seed", help="the knob changed for each picture")
    parser.add_argument("--share-gb", type=int, help="fence each session to this many GB, as a share's are")
    parser.add_argument("--cpu", action="store_true", help="no GPU: check the script (never published)")
    parser.add_argument("--smoke", action="store_true", help="the lesson held down to a CPU's size")
    parser.add_argument("--json", type=Path, help=f"where the record goes (default, on a GPU: {SHARED_RECORDS}/)")
    args = parser.parse_args()
    if args.cpu and (args.json is None or SHARED_RECORDS in (args.json.parent, (ROOT / SHARED_RECORDS))):
        parser.error("--cpu figures are no GPU's: give --json outside docs/benchmarks/shared")
    rows = []
    for n in args.sessions:
        with tempfile.TemporaryDirectory(prefix=f"atelier-shared-{n}-") as folder:
            row = measure(n, args, Path(folder))
        rows.append(row)
        print(
            f"{n} session(s): {row['pictures_per_minute']} pictures a minute on the card, "
            f"{row['seconds_per_picture']} s a picture each, peak {row['peak_memory_gb']} GB",
            flush=True,
        )
    device = "cpu" if args.cpu else _card_name()
    now = datetime.now(UTC)
    record = {
        "cluster": args.cluster,
        "gpu": args.gpu,
        "device": device,
        "lesson": args.lesson,
        "date": now.isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "share_gb": args.share_gb,
        "pictures_each": args.pictures,
        "rows": rows,
    }
    out = args.json or ROOT / SHARED_RECORDS / f"{now:%Y-%m-%d}-{args.cluster}-{args.gpu}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"Written to {out}")


def _card_name() -> str:
    found = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return found.stdout.strip().splitlines()[0] if found.returncode == 0 and found.stdout.strip() else "unknown GPU"


if __name__ == "__main__":
    main()
