"""serve, run and check against a real ComfyUI with generated test models, and their failure paths."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from atelier.check.lessons import Target, check_modules
from atelier.comfy.client import ComfyClient
from atelier.comfy.headless import execute, load_job
from atelier.comfy.server import LOGIN, ComfyServer
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import load_module
from atelier.lessons.nodes import load_node_list
from atelier.messages import AtelierError
from tests.comfyui.conftest import ATELIER, SD15_FAMILY, serve
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]

NODE_LIST = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")


def atelier(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, *args], cwd=cwd, capture_output=True, text=True)


def test_serve_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    process = serve(tmp_path)
    try:
        stamp, line = process.stdout.readline().split(" ", 1)  # job logs: each line starts with the time
        assert len(stamp) == 8 and stamp.count(":") == 2, stamp
        assert line.startswith("ComfyUI is ready at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" at ")[1].split(" ")[0]
        seconds = float(line.split("(")[1].split(" s)")[0])
        assert seconds < 60
        assert process.stdout.readline().split(" ", 1)[1] == (
            f"Open {url}{LOGIN} and paste the session key kept in {tmp_path / 'gate' / 'token'}.\n"
        )
        assert json.loads((tmp_path / "connection.json").read_text())["port"] == int(url.rsplit(":", 1)[1])
        key = (tmp_path / "gate" / "token").read_text()
        assert ComfyClient(url, token=key).get_json("/system_stats")["system"]["comfyui_version"]
        with pytest.raises(AtelierError) as refused:
            ComfyClient(url).get_json("/system_stats")
        assert refused.value.code == "gate-refused"
        for folder in ("input", "output", "user", "temp"):
            assert (tmp_path / folder).is_dir()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
        assert process.stdout.read().split(" ", 1)[1] == f"ComfyUI stopped. Outputs are in {tmp_path / 'output'}\n"
    with pytest.raises(AtelierError) as gone:
        ComfyClient(url, timeout=2).get_json("/system_stats")
    assert gone.value.code == "server-unreachable"


def test_run_makes_the_image_the_module_promises(comfy_models: ComfyServer, tmp_path: Path) -> None:
    result = atelier(
        "run",
        "workflows/txt2img-basics",
        "--server",
        comfy_models.url,
        "--key-file",
        str(comfy_models.token_file),
        "--set",
        "KSampler.steps=2",
        "--set",
        "KSampler.seed=7",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "Saved 1 file(s):" in result.stdout
    *_, saved_line, ledger_line = result.stdout.strip().splitlines()
    assert ledger_line == f"Their settings are in the ledger {tmp_path / 'atelier-ledger.sqlite'}."
    saved = Path(saved_line.strip())
    with Image.open(saved) as image:
        assert image.size == (512, 512)
        assert json.loads(image.info["prompt"])["5"]["inputs"]["seed"] == 7  # the settings travel with the picture
        assert "workflow" in image.info


def test_smoke_check_passes_on_every_cpu_module(comfy_models: ComfyServer, tmp_path: Path) -> None:
    args = [a for slug in SD15_FAMILY for a in ("--module", slug)]
    result = atelier(
        "check",
        "--smoke",
        "--server",
        comfy_models.url,
        "--key-file",
        str(comfy_models.token_file),
        "--out",
        str(tmp_path),
        *args,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(r["module"], r["status"]) for r in report["results"]] == [(s, "passed") for s in SD15_FAMILY]
    assert all(r["comfy_seconds"] and r["seconds"] >= r["comfy_seconds"] for r in report["results"])
    junit = (tmp_path / "junit.xml").read_text()
    assert 'tests="6" failures="0"' in junit
    with sqlite3.connect(tmp_path / "outputs" / "atelier-ledger.sqlite") as db:  # check files its outputs too
        recorded = db.execute("SELECT DISTINCT module, source FROM outputs ORDER BY module").fetchall()
    assert recorded == sorted((slug, "check") for slug in SD15_FAMILY)


def test_missing_model_is_named(comfy, tmp_path: Path) -> None:
    result = atelier(
        "run",
        "workflows/txt2img-basics",
        "--server",
        comfy.url,
        "--key-file",
        str(comfy.token_file),
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: The model file v1-5-pruned-emaonly.safetensors is not in the checkpoints folder on this server. "
        "A maintainer adds it with 'atelier models fetch --module txt2img-basics'; to try the lesson before the "
        "real models are in, make test models ('atelier testmodels --module txt2img-basics --out DIR') and run "
        "with '--models DIR'."
    )


def test_out_of_range_knob_is_refused_before_running(comfy_models: ComfyServer, tmp_path: Path) -> None:
    result = atelier("run", "workflows/txt2img-basics", "--server", comfy_models.url, "--set", "KSampler.cfg=150")
    assert result.returncode == 2
    assert result.stderr == (
        "Error: Setting 'KSampler.cfg=150' is not allowed: cfg takes a number from 0.0 to "
        "100.0. Choose a value in that range, or one of those choices.\n"
    )


def test_server_killed_mid_run(tiny_store: Path, tmp_path: Path) -> None:
    checkout, python = comfyui_from_env()
    with ComfyServer(checkout, python, tmp_path / "w", cpu=True, models=tiny_store) as server:
        job = load_job(ROOT / "workflows" / "txt2img-basics", NODE_LIST)
        job.prompt["5"]["inputs"]["steps"] = 200

        def kill_on_first_step(progress) -> None:
            if progress.steps and server.alive():
                os.killpg(server.process.pid, signal.SIGKILL)

        with pytest.raises(AtelierError) as err:
            execute(Target(server=server).client(), job, tmp_path / "out", NODE_LIST, on_progress=kill_on_first_step)
        assert err.value.code == "server-died"


def test_check_survives_a_timeout_and_a_dead_server(tiny_store: Path, tmp_path: Path) -> None:
    checkout, python = comfyui_from_env()
    modules = [load_module(ROOT / "workflows" / s) for s in ("txt2img-basics", "seeds-steps-cfg-samplers", "lora")]
    with ComfyServer(checkout, python, tmp_path / "w", cpu=True, models=tiny_store) as server:
        target = Target(server=server)

        def after(result) -> None:
            if result.module == "txt2img-basics":  # the next module starts on a dead server
                os.killpg(server.process.pid, signal.SIGKILL)
                time.sleep(0.5)

        report = check_modules(modules, target, NODE_LIST, tmp_path / "out", smoke=False, timeout=0.5, on_result=after)
        statuses = {r.module: (r.status, r.message) for r in report.results}
        assert statuses["txt2img-basics"] == (
            "failed",
            "The workflow did not finish within 0.5 seconds. Lower the "
            "steps or the picture size, or allow more time with --timeout.",
        )
        assert statuses["seeds-steps-cfg-samplers"][0] == "failed"
        assert statuses["seeds-steps-cfg-samplers"][1].endswith("ComfyUI had died and was restarted.")
        assert server.alive()
        assert len(report.results) == 3, "one module's failure never stops the others"


NEW_KINDS = ["sdxl-basics", "text-to-video", "text-to-audio", "image-to-3d"]  # full-size or fixed-config models


def test_smoke_check_runs_sdxl_video_sound_and_3d_on_the_cpu(tmp_path: Path) -> None:
    """Every model kind a module loads has a random-weight file ComfyUI loads with the module's own loaders,
    and each module's output is held to module.yaml at the sizes the smoke check asked for."""
    checkout, python = comfyui_from_env()
    every = sorted(
        {
            n
            for m in (ROOT / "workflows").iterdir()
            if (m / "module.yaml").is_file()
            for n, _ in module_models(load_module(m))
        }
    )
    assert generate(every, default_store("tiny"), "tiny", checkout, python) == {}, "a model without a test model"
    args = [a for slug in NEW_KINDS for a in ("--module", slug)]
    result = subprocess.run(
        [ATELIER, "check", "--smoke", "--cpu", "--out", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COMFYUI_DIR": str(checkout), "COMFYUI_PYTHON": str(python)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(r["module"], r["status"]) for r in report["results"]] == [(s, "passed") for s in NEW_KINDS]
    assert all(r["peak_host_mb"] and r["peak_host_mb"] < 22_000 for r in report["results"]), report["results"]
    made = {r["module"]: [Path(o).suffix for o in r["outputs"]] for r in report["results"]}
    assert made == {
        "sdxl-basics": [".png"],
        "text-to-video": [".mp4"],
        "text-to-audio": [".flac"],
        "image-to-3d": [".glb"],
    }


def test_smoke_check_runs_the_lesson_that_needs_a_custom_node(tmp_path: Path) -> None:
    """depth-controlnet needs kijai's ComfyUI-DepthAnythingV2: with it loaded the check passes; a ComfyUI
    without it (not installed, or not named in ATELIER_CUSTOM_NODES) skips the lesson and says why."""
    checkout, _ = comfyui_from_env()
    folder = "ComfyUI-DepthAnythingV2"
    loaded = folder in os.environ.get("ATELIER_CUSTOM_NODES", "").split()
    installed = (checkout / "custom_nodes" / folder).is_dir()
    # The node reads <models_dir>/depthanything itself: sessions point models_dir at the store
    # (extension atelier_models), so nothing is linked into the checkout.
    assert not (checkout / "models" / "depthanything").exists()
    result = atelier("check", "--smoke", "--module", "depth-controlnet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    (only,) = json.loads((tmp_path / "report.json").read_text())["results"]
    if loaded and installed:
        assert only["status"] == "passed", only["message"]
        made = sorted(Path(p).name for p in only["outputs"])
        assert made == ["depth-controlnet-depth_00001_.png", "depth-controlnet_00001_.png"]
        for path in only["outputs"]:
            with Image.open(path) as image:
                assert image.size == (512, 512)
    else:
        assert only["status"] == "skipped"
        assert f"custom node {folder}" in only["message"], only["message"]
        assert "Traceback" not in result.stdout + result.stderr
