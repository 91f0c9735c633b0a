"""Real ComfyUI outputs of every kind the ledger reads, made by a running ComfyUI.

The comfyui tier calls `make` live; `python -m tests.comfyui.media DIR` made the committed
fixtures in tests/fixtures/outputs (with COMFYUI_DIR and COMFYUI_PYTHON set). Pictures come
from the txt2img lesson on the generated test models; WebP, MP4, FLAC, MP3 and Opus from
ComfyUI's own save nodes fed a small picture and tone (they need no model); the GLB from
ComfyUI's own `save_glb`, since no 3D model runs on a CPU here. Then the broken kinds a
student's folder can hold: a picture cut short, a photo from elsewhere, notes, junk.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import wave
from pathlib import Path

from PIL import Image

from atelier.comfy.headless import apply_settings, execute, load_job
from atelier.comfy.server import ComfyServer
from atelier.lessons.nodes import load_node_list
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]
GRID = [(seed, cfg) for seed in (1, 2) for cfg in (4.0, 8.0)]  # seed down, CFG across

# No model needed: a picture and a tone through ComfyUI's save nodes.
MEDIA_PROMPT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "swatch.png"}, "_meta": {"title": "Load Image"}},
    "2": {"class_type": "RepeatImageBatch", "inputs": {"image": ["1", 0], "amount": 3}, "_meta": {"title": "Frames"}},
    "3": {
        "class_type": "SaveAnimatedWEBP",
        "_meta": {"title": "Save WebP"},
        "inputs": {
            "images": ["2", 0],
            "filename_prefix": "media/anim",
            "fps": 6.0,
            "lossless": False,
            "quality": 80,
            "method": "default",
        },
    },
    "4": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 6.0}, "_meta": {"title": "Create Video"}},
    "5": {
        "class_type": "SaveVideo",
        "_meta": {"title": "Save Video"},
        "inputs": {"video": ["4", 0], "filename_prefix": "media/clip", "format": "mp4", "codec": "h264"},
    },
    "6": {"class_type": "LoadAudio", "inputs": {"audio": "tone.wav"}, "_meta": {"title": "Load Audio"}},
    "7": {
        "class_type": "SaveAudio",
        "inputs": {"audio": ["6", 0], "filename_prefix": "media/tone"},
        "_meta": {"title": "Save Audio"},
    },
    "8": {
        "class_type": "SaveAudioMP3",
        "inputs": {"audio": ["6", 0], "filename_prefix": "media/tone", "quality": "V0"},
        "_meta": {"title": "Save MP3"},
    },
    "9": {
        "class_type": "SaveAudioOpus",
        "inputs": {"audio": ["6", 0], "filename_prefix": "media/tone", "quality": "64k"},
        "_meta": {"title": "Save Opus"},
    },
}

GLB_SCRIPT = """
import json, sys, torch
sys.path.insert(0, sys.argv[1])
target = sys.argv[2]
import comfy.options
comfy.options.enable_args_parsing()
sys.argv = [sys.argv[0], "--cpu"]
from comfy_extras.nodes_hunyuan3d import save_glb
prompt = {"1": {"class_type": "SaveGLB", "inputs": {"filename_prefix": "mesh/ComfyUI"}, "_meta": {"title": "Save GLB"}}}
vertices = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float32)
faces = torch.tensor([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], dtype=torch.int64)
save_glb(vertices, faces, target, {"prompt": json.dumps(prompt), "workflow": json.dumps({"nodes": []})})
"""


def _inputs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    swatch = folder / "swatch.png"
    Image.new("RGB", (48, 32), (200, 120, 40)).save(swatch)
    tone = folder / "tone.wav"
    with wave.open(str(tone), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(16000)))
    return [swatch, tone]


def make(server: ComfyServer, out: Path) -> list[Path]:
    """Fill `out` with real outputs (server needs the tiny test models); returns them all."""
    node_list = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")
    made: list[Path] = []
    for seed, cfg in GRID:
        job = load_job(ROOT / "workflows" / "txt2img-basics", node_list)
        apply_settings(
            job,
            [
                f"KSampler.seed={seed}",
                f"KSampler.cfg={cfg}",
                "KSampler.steps=2",
                "Image size.width=64",
                "Image size.height=64",
            ],
            node_list,
        )
        made += execute(server.client(), job, out / "txt2img", node_list).outputs
    media = load_job(ROOT / "workflows" / "txt2img-basics", node_list)  # borrowed for its shape only
    media.prompt, media.workflow, media.module = MEDIA_PROMPT, {"nodes": []}, None
    media.inputs = _inputs(out.parent / f"{out.name}-inputs")
    made += execute(server.client(), media, out / "media", node_list).outputs
    glb = out / "mesh" / "shape.glb"
    glb.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(server.python), "-c", GLB_SCRIPT, str(server.checkout), str(glb)], check=True)
    made.append(glb)
    return made + broken(out / "broken", made[0])


def broken(folder: Path, picture: Path) -> list[Path]:
    """What else turns up in an outputs folder: cut short, foreign, not media, junk."""
    folder.mkdir(parents=True, exist_ok=True)
    cut = folder / "cut-short.png"
    cut.write_bytes(picture.read_bytes()[: picture.stat().st_size // 2])
    photo = folder / "photo.jpg"
    Image.new("RGB", (40, 30), (30, 90, 160)).save(photo, quality=80)
    notes = folder / "notes.txt"
    notes.write_text("ideas for the still life\n", encoding="utf-8")
    junk = folder / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 8)
    return [cut, photo, notes, junk]


if __name__ == "__main__":
    from atelier.comfy.testmodels import default_store

    target = Path(sys.argv[1])
    checkout, python = comfyui_from_env()
    with ComfyServer(checkout, python, target.parent / "server", cpu=True, models=default_store("tiny")) as comfy:
        for path in make(comfy, target):
            print(path.relative_to(target), path.stat().st_size)
