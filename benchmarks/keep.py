"""Ledger and compare figures for the issue note: 1,000 outputs on this machine's cores.

Run: .venv/bin/python benchmarks/keep.py [--count 1000] [--size 512]
The outputs are 512 x 512 PNGs carrying a real ComfyUI prompt and workflow (taken from
the committed fixture and given a different seed and CFG each), with enough texture that
they weigh what a Stable Diffusion 1.5 picture weighs. Making them is not timed. Timed:
the first scan, a second scan (nothing new), the first compare (thumbnails made), and a
second compare (thumbnails reused). Targets: scan <= 10 s, compare <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageFilter
from PIL.PngImagePlugin import PngInfo

from atelier.keep import ledger
from atelier.keep.compare import compare

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "fixtures"
    / "outputs"
    / "txt2img"
    / "atelier"
    / "txt2img_00001_.png"
)


def make_outputs(folder: Path, count: int, size: int) -> int:
    with Image.open(FIXTURE) as picture:
        prompt, workflow = json.loads(picture.info["prompt"]), picture.info["workflow"]
    rng = random.Random(7)
    base = Image.effect_noise((size, size), 64).convert("RGB").filter(ImageFilter.GaussianBlur(1.5))
    total = 0
    for n in range(count):
        prompt["5"]["inputs"]["seed"] = rng.randrange(2**32)
        prompt["5"]["inputs"]["cfg"] = (4.0, 6.0, 8.0)[n % 3]
        info = PngInfo()
        info.add_text("prompt", json.dumps(prompt))
        info.add_text("workflow", workflow)
        shifted = base.rotate(n % 360).point(lambda v, k=n: (v + k) % 256)
        path = folder / f"batch{n // 100:02d}" / f"ComfyUI_{n:05d}_.png"
        path.parent.mkdir(exist_ok=True)
        shifted.save(path, pnginfo=info, compress_level=4)  # ComfyUI's own compress_level
        total += path.stat().st_size
    return total


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="outputs to make (default 1000)")
    parser.add_argument("--size", type=int, default=512, help="their width and height in pixels (default 512)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as scratch:
        folder = Path(scratch) / "outputs"
        folder.mkdir()
        weight = make_outputs(folder, args.count, args.size)
        print(
            f"{args.count} outputs of {args.size} x {args.size} px, {weight / args.count / 1024:.0f} KiB each, "
            f"on {cores} CPU cores"
        )
        first = timed(lambda: ledger.scan(folder))
        again = timed(lambda: ledger.scan(folder))
        out = Path(scratch) / "comparison"
        made = timed(lambda: compare([folder], out, by="cfg"))
        reused = timed(lambda: compare([folder], out, by="cfg"))
        book = (out / "comparison.xlsx").stat().st_size / 2**20
        print(f"ledger scan, first:         {first:6.2f} s  (target 10 s: {first / 10:.0%} of it)")
        print(f"ledger scan, nothing new:   {again:6.2f} s")
        print(
            f"compare, thumbnails made:   {made:6.2f} s  (target 30 s: {made / 30:.0%} of it); workbook {book:.1f} MiB"
        )
        print(f"compare, thumbnails reused: {reused:6.2f} s")


if __name__ == "__main__":
    main()
