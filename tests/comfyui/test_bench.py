"""`atelier bench` against a real ComfyUI: the figures a maintainer reads, and the file the page is made from.

On the CPU with the small test models and small pictures, so it takes seconds, not hours;
the GPU figures on the site come from the same command at full size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from atelier.lessons.pin import PIN_PATH, load_pin
from atelier.site.pages import benchmarks as benchpage

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")


def bench(out: Path, workloads: list[str], options: list[str], timeout: int) -> subprocess.CompletedProcess[str]:
    """`atelier bench` as a maintainer runs it, held small: tiny test models, 64x64, the CPU."""
    command = [ATELIER, "bench", *workloads, *options, "--size", "64x64", "--test-models", "tiny", "--cpu"]
    return subprocess.run([*command, "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_bench_measures_each_workload_and_writes_the_page_data(tiny_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "cpu.json"
    done = bench(
        out,
        ["--workload", "sd15-512", "txt2img-basics", "upscale-with-model", "text-to-video"],
        ["--flags", "", "--flags", "--use-split-cross-attention", "--steps", "3", "--repeat", "2"],
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Results in {out}." in done.stdout
    assert "skipped" not in done.stdout  # every lesson has random-weight models now, the video one included
    result = json.loads(out.read_text())
    assert [run["flags"] for run in result["runs"]] == [[], ["--use-split-cross-attention"]]
    for run in result["runs"]:
        assert run["device"]["type"] == "cpu" and run["cold_start_s"] > 0
        assert run["versions"]["comfyui"] == load_pin(ROOT / PIN_PATH).comfyui_version
        sd15, lesson, upscale, video = run["workloads"]
        assert (sd15["status"], sd15["width"], sd15["height"], sd15["steps"]) == ("measured", 64, 64, 3)
        assert sd15["models"] == [{"name": "v1-5-pruned-emaonly.safetensors", "weights": "random (tiny)"}]
        assert len(sd15["runs_s"]) == 2 and sd15["seconds_per_image"] > 0 and sd15["iterations_per_second"] > 0
        # Same model as the workload before: its first picture still loads it, because the bench unloaded it.
        assert lesson["status"] == "measured" and lesson["model_load_s"] > 0.2, lesson
        assert sd15["peak_host_bytes"] > 200 * 2**20 and sd15["peak_gpu_bytes"] is None
        # No seed: each picture still ran (new input names), instead of coming from ComfyUI's cache.
        assert upscale["status"] == "measured" and min(upscale["runs_s"]) > 0.05
        assert video["status"] == "measured" and min(video["runs_s"]) > 0.05
        assert sorted(m["name"] for m in video["models"]) == [
            "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
            "wan2.1_t2v_1.3B_fp16.safetensors",
            "wan_2.1_vae.safetensors",
        ]
        assert all(m["weights"].startswith("random") for m in video["models"])
    results = benchpage.load_results(out.parent)  # a file the page accepts...
    assert len(results) == 1 and "CPU only:" not in benchpage.devices_table(results)  # ...but a quick look is no row


def test_a_flag_set_whose_comfyui_cannot_start_is_reported_and_its_logs_kept(tiny_store: Path, tmp_path: Path) -> None:
    """--use-flash-attention needs a library this ComfyUI lacks: it stops at start, the bench says so and goes on."""
    out = tmp_path / "flash.json"
    done = bench(
        out,
        ["sd15-512"],
        ["--flags", "--use-flash-attention", "--flags", "", "--steps", "2", "--repeat", "1"],
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ComfyUI with --use-flash-attention did not run: ComfyUI did not start" in done.stdout, done.stdout
    kept = done.stdout.split("ComfyUI's logs are kept in ")[1].split()[0].rstrip(".")
    assert "flash" in (Path(kept) / "comfyui-use-flash-attention" / "comfyui.log").read_text().lower()
    failed, ran = json.loads(out.read_text())["runs"]
    assert "failed" in failed and ran["workloads"][0]["status"] == "measured"
