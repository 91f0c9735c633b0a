"""`atelier nodes` against a stand-in /object_info (the real one runs in tier comfyui)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ATELIER = str(Path(sys.executable).parent / "atelier")
TIP = {"tooltip": "prose that changes between releases"}
RAW = {
    "KSampler": {
        "input": {
            "required": {
                "seed": ["INT", {"default": 0, "min": 0, "max": 9, "control_after_generate": True, **TIP}],
                "sampler_name": [["euler", "heun"], TIP],
            }
        },
        "input_order": {"required": ["seed", "sampler_name"]},
        "output": ["LATENT"],
        "output_is_list": [False],
        "output_name": ["LATENT"],
        "name": "KSampler",
        "display_name": "KSampler",
        "description": "Long text.",
        "python_module": "nodes",
        "category": "sampling",
        "output_node": False,
        "output_tooltips": ["x"],
    },
    "CheckpointLoaderSimple": {
        "input": {"required": {"ckpt_name": [["mine.safetensors"], TIP]}},
        "output": ["MODEL"],
        "input_order": {"required": ["ckpt_name"]},
        "name": "CheckpointLoaderSimple",
    },
    "VAELoader": {
        "input": {"required": {"vae_name": [["pixel_space", "taesd"]]}},
        "output": ["VAE"],
        "name": "VAELoader",
    },
    "LoadImage": {
        "input": {"required": {"image": [["cat.png"], {"image_upload": True}]}},
        "output": ["IMAGE", "MASK"],
        "name": "LoadImage",
    },
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE"]}, "hidden": {"prompt": "PROMPT"}},
        "input_order": {"required": ["images"], "hidden": ["prompt"]},
        "output": [],
        "name": "SaveImage",
    },
    "OpenAIDalle3": {"input": {"required": {}}, "output": ["IMAGE"], "name": "OpenAIDalle3", "api_node": True},
    "OpenAIInputFiles": {
        "input": {"required": {}},
        "output": ["FILES"],
        "name": "OpenAIInputFiles",
        "python_module": "comfy_api_nodes.nodes_openai",
    },
    **{
        name: {"input": {"required": {}}, "output": [], "name": name}
        for name in ("LoadAudio", "SaveAudio", "EmptyLatentAudio")
    },
}


@pytest.fixture
def fake_comfyui(serve_dir, tmp_path: Path):
    def serve(object_info: dict) -> str:
        root = tmp_path / "server"
        root.mkdir(exist_ok=True)
        (root / "object_info").write_text(json.dumps(object_info))
        (root / "system_stats").write_text(json.dumps({"system": {"comfyui_version": "0.3.64"}}))
        return serve_dir(root)

    return serve


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, "nodes", *args], capture_output=True, text=True)


def test_node_list_is_stripped(fake_comfyui, tmp_path: Path) -> None:
    out = tmp_path / "nodes.json"
    result = run("--server", fake_comfyui(RAW), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Wrote {out}: 8 node types from ComfyUI 0.3.64 (2 online-service nodes left out).\n"
    data = json.loads(out.read_text())
    assert data["api_nodes"] == ["OpenAIDalle3", "OpenAIInputFiles"]
    nodes = data["nodes"]
    assert nodes["KSampler"]["input"]["required"] == {
        "seed": ["INT", {"default": 0, "min": 0, "max": 9, "control_after_generate": True}],
        "sampler_name": [["euler", "heun"]],
    }
    assert "description" not in nodes["KSampler"] and "output_tooltips" not in nodes["KSampler"]
    assert nodes["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] == [[], {"files": True}]
    assert nodes["VAELoader"]["input"]["required"]["vae_name"] == [[], {"files": True}]
    assert nodes["LoadImage"]["input"]["required"]["image"] == [[], {"image_upload": True, "files": True}]
    assert "hidden" not in nodes["SaveImage"]["input"] and "hidden" not in nodes["SaveImage"]["input_order"]
    assert "tooltip" not in out.read_text()


def test_a_comfyui_without_audio_nodes_is_refused(fake_comfyui, tmp_path: Path) -> None:
    raw = {k: v for k, v in RAW.items() if k not in ("LoadAudio", "SaveAudio")}
    url = fake_comfyui(raw)
    result = run("--server", url, "--out", str(tmp_path / "c.json"))
    assert result.returncode == 1
    assert result.stderr == (
        f"Error: The ComfyUI at {url} has no audio nodes (LoadAudio, SaveAudio), so its node list "
        "would be incomplete. Install torchaudio in that ComfyUI's Python environment, restart it "
        "and run 'atelier nodes' again.\n"
    )
    assert not (tmp_path / "c.json").exists()


def test_an_unreachable_server_is_one_plain_line(tmp_path: Path) -> None:
    result = run("--server", "http://127.0.0.1:9", "--out", str(tmp_path / "c.json"))
    assert result.returncode == 1
    assert result.stderr == (
        "Error: ComfyUI at http://127.0.0.1:9 is not answering. Check in the dashboard (My "
        "Interactive Sessions) that your session is still running, then try again.\n"
    )
