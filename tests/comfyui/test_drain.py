"""A session told to stop (Slurm's SIGTERM) finishes the running picture before ComfyUI exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from PIL import Image

from atelier.comfy.headless import load_job
from atelier.comfy.server import ComfyServer
from atelier.lessons.nodes import load_node_list
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]
NODE_LIST = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")


def test_sigterm_lets_the_running_prompt_finish_and_drops_the_queue(tiny_store: Path, tmp_path: Path) -> None:
    checkout, python = comfyui_from_env()
    server = ComfyServer(checkout, python, tmp_path / "w", cpu=True, models=tiny_store, drain_seconds=240)
    with server:
        job = load_job(ROOT / "workflows" / "txt2img-basics", NODE_LIST)
        job.prompt["5"]["inputs"]["steps"] = 4
        client = server.client()
        running = client.submit(job.prompt)
        queued = client.submit(job.prompt)
        deadline = time.monotonic() + 120
        while not client.get_json("/queue")["queue_running"]:
            assert time.monotonic() < deadline, "the first prompt never started"
            time.sleep(0.2)
        server.process.send_signal(signal.SIGTERM)  # what Slurm sends at the end of a job
        time.sleep(1.0)
        assert server.alive(), "ComfyUI died at once instead of finishing the running prompt"
        assert server.process.wait(timeout=240) == 0
    saved = sorted(server.output_dir.rglob("*.png"))  # the module saves under output/atelier/
    assert len(saved) == 1, f"expected the running prompt's one picture, found {saved}"
    with Image.open(saved[0]) as image:
        image.load()  # a cut-off file fails here
        assert image.size == (512, 512)
    log = server.log.read_text()
    assert "atelier drain: the running prompt finished; ComfyUI stops now" in log
    assert running != queued
