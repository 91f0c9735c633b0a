"""The runner's logic against a stand-in client: settings, progress, failures, outputs.

The same paths run against a real ComfyUI in tests/comfyui/test_run_check.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atelier.comfy.client import Rejected
from atelier.comfy.headless import Progress, apply_settings, execute, load_job, smoke_settings
from atelier.lessons.nodes import load_node_list
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]
NODE_LIST = load_node_list(ROOT / "workflows" / "nodes" / "object_info.json")


def job(slug: str = "txt2img-basics"):
    return load_job(ROOT / "workflows" / slug, NODE_LIST)


class FakeClient:
    """Plays back a WebSocket conversation and a history, like ComfyUI would."""

    def __init__(
        self,
        events: list[tuple[str, dict[str, Any]]],
        history: dict[str, Any] | None = None,
        rejected: dict[str, Any] | None = None,
    ) -> None:
        self._events, self._history, self._rejected = events, history or {}, rejected
        self.uploaded: list[str] = []
        self.posted: list[str] = []
        self.submitted: dict[str, Any] | None = None

    def upload(self, path: Path) -> str:
        self.uploaded.append(path.name)
        return path.name

    def events(self):
        fake = self

        class Stream:
            def __enter__(self):
                return iter(fake._events)

            def __exit__(self, *exc):
                return False

        return Stream()

    def submit(self, prompt, workflow=None) -> str:
        if self._rejected:
            raise Rejected(self._rejected)
        self.submitted = prompt
        return "p1"

    def post_json(self, path: str, body: dict) -> dict:
        self.posted.append(path)
        return {}

    def history(self, prompt_id: str) -> dict:
        return self._history

    def download(self, item: dict, folder: Path) -> Path:
        return folder / item.get("subfolder", "") / item["filename"]


def test_settings_are_checked_and_typed() -> None:
    j = job()
    apply_settings(
        j, ["KSampler.seed=4", "KSampler.cfg=6", "KSampler.sampler_name=heun", "Positive prompt.text=a pear"], NODE_LIST
    )
    ks = j.prompt["5"]["inputs"]
    assert (ks["seed"], ks["cfg"], ks["sampler_name"]) == (4, 6.0, "heun")
    assert isinstance(ks["cfg"], float)
    assert j.prompt["2"]["inputs"]["text"] == "a pear"


def test_settings_reach_the_canvas_copy_that_outputs_carry() -> None:
    """Dragged onto ComfyUI, an output opens with the values it was made with, not the lesson's."""
    import copy

    from atelier.lessons.convert import to_api

    j = job()
    lesson = copy.deepcopy(j.workflow)
    shared_nodes = j.workflow["nodes"]  # the list a lesson's Module holds too
    apply_settings(j, ["KSampler.seed=4", "Image size.height=768", "Positive prompt.text=a pear"], NODE_LIST)
    again, _ = to_api(j.workflow, NODE_LIST, j.source)
    assert again["5"]["inputs"]["seed"] == 4 and again["2"]["inputs"]["text"] == "a pear"
    size = [n["inputs"] for n in again.values() if n["_meta"]["title"] == "Image size"][0]
    assert (size["width"], size["height"]) == (512, 768)  # width was 512 too: only height changed
    assert shared_nodes == lesson["nodes"]  # the lesson's own nodes are untouched: changed copies replace them


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("KSampler.cfg=150", "Setting 'KSampler.cfg=150' is not allowed: cfg takes a number from 0.0 to 100.0."),
        ("KSampler.steps=0", "Setting 'KSampler.steps=0' is not allowed: steps takes a whole number from 1 to 10000."),
        (
            "KSampler.seed=lots",
            "Setting 'KSampler.seed=lots' is not allowed: seed takes a whole number from 0 to 18446744073709551615.",
        ),
        ("Painter.seed=3", "Setting 'Painter.seed=3': the workflow has no node titled 'Painter' with a setting seed."),
        (
            "KSampler.colour=red",
            "Setting 'KSampler.colour=red': the workflow has no node titled 'KSampler' with a setting colour.",
        ),
        ("seed=3", "Setting 'seed=3' is not written as node.setting=value."),
    ],
)
def test_bad_settings_are_refused_before_running(setting: str, message: str) -> None:
    with pytest.raises(AtelierError) as err:
        apply_settings(job(), [setting], NODE_LIST)
    assert err.value.text == message
    assert err.value.exit_code == 2


def test_progress_follows_nodes_and_sampler_steps(tmp_path: Path) -> None:
    events = [
        ("status", {}),
        ("execution_start", {"prompt_id": "p1"}),
        ("execution_cached", {"nodes": ["1"], "prompt_id": "p1"}),
        ("executing", {"node": "2", "prompt_id": "p1"}),
        ("executing", {"node": "5", "prompt_id": "p1"}),
        ("progress", {"value": 1, "max": 2, "node": "5", "prompt_id": "p1"}),
        ("progress", {"value": 2, "max": 2, "node": "5", "prompt_id": "p1"}),
        ("executing", {"node": "other", "prompt_id": "someone-else"}),
        ("executing", {"node": "7", "prompt_id": "p1"}),
        ("executing", {"node": None, "prompt_id": "p1"}),
    ]
    history = {
        "outputs": {
            "7": {
                "images": [
                    {"filename": "a_00001_.png", "subfolder": "atelier", "type": "output"},
                    {"filename": "preview.png", "subfolder": "", "type": "temp"},
                ]
            }
        },
        "status": {"messages": [["execution_start", {"timestamp": 1000}], ["execution_success", {"timestamp": 3500}]]},
    }
    seen: list[Progress] = []
    result = execute(FakeClient(events, history), job(), tmp_path, NODE_LIST, on_progress=seen.append)
    assert [(p.title, p.done, p.total, p.step, p.steps) for p in seen] == [
        ("Positive prompt", 1, 7, 0, 0),
        ("KSampler", 2, 7, 0, 0),
        ("KSampler", 3, 7, 1, 2),
        ("KSampler", 3, 7, 2, 2),
        ("Save Image", 3, 7, 0, 0),
    ]
    assert result.outputs == [tmp_path / "atelier" / "a_00001_.png"]
    assert result.comfy_seconds == 2.5


def test_inputs_are_uploaded_first(tmp_path: Path) -> None:
    client = FakeClient([("executing", {"node": None, "prompt_id": "p1"})])
    execute(client, job("img2img"), tmp_path, NODE_LIST)
    assert client.uploaded == ["still_life_painting.png"]


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (
            [
                (
                    "execution_error",
                    {
                        "prompt_id": "p1",
                        "node_id": "5",
                        "exception_type": "torch.OutOfMemoryError",
                        "exception_message": "CUDA out of memory. Tried to allocate 2 GiB",
                    },
                )
            ],
            "The GPU ran out of memory in node 5 'KSampler'.",
        ),
        (
            [
                (
                    "execution_error",
                    {
                        "prompt_id": "p1",
                        "node_id": "6",
                        "exception_type": "RuntimeError",
                        "exception_message": "shapes cannot be multiplied.\nmore",
                    },
                )
            ],
            "The run stopped in node 6 'VAE Decode': shapes cannot be multiplied.",
        ),
        (
            [
                (
                    "execution_error",
                    {
                        "prompt_id": "p1",
                        "node_id": "1",
                        "exception_type": "FileNotFoundError",
                        "exception_message": "Model in folder 'checkpoints' with filename 'x.safetensors' not found.",
                    },
                )
            ],
            "The model file x.safetensors is not in the checkpoints folder on this server.",
        ),
        (
            [
                (
                    "execution_error",
                    {
                        "prompt_id": "p1",
                        "node_id": "7",
                        "exception_type": "OSError",
                        "exception_message": "[Errno 28] No space left on device",
                    },
                )
            ],
            "Your outputs folder is full: the picture from node 7 'Save Image' could not be saved.",
        ),
        (
            [
                (
                    "execution_error",
                    {
                        "prompt_id": "p1",
                        "node_id": "7",
                        "exception_type": "OSError",
                        "exception_message": "[Errno 122] Disk quota exceeded: '/home/ana/out/a.png'",
                    },
                )
            ],
            "Your outputs folder is full: the picture from node 7 'Save Image' could not be saved.",
        ),
        (
            [("executing", {"node": "5", "prompt_id": "p1"}), ("closed", {})],
            "ComfyUI stopped while it was running the workflow.",
        ),
    ],
)
def test_failures_become_plain_messages(tmp_path: Path, events: list, message: str) -> None:
    with pytest.raises(AtelierError) as err:
        execute(FakeClient(events), job(), tmp_path, NODE_LIST)
    assert err.value.text == message


def test_a_missing_model_names_file_folder_and_fix(tmp_path: Path) -> None:
    rejected = {
        "error": {"message": "Prompt outputs failed validation"},
        "node_errors": {
            "1": {
                "class_type": "CheckpointLoaderSimple",
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "extra_info": {"input_name": "ckpt_name", "received_value": "v1-5-pruned-emaonly.safetensors"},
                    }
                ],
            }
        },
    }
    with pytest.raises(AtelierError) as err:
        execute(FakeClient([], rejected=rejected), job(), tmp_path, NODE_LIST)
    assert str(err.value) == (
        "The model file v1-5-pruned-emaonly.safetensors is not in the checkpoints folder on this server. "
        "A maintainer adds it with 'atelier models fetch --module txt2img-basics'; to try the lesson before the "
        "real models are in, make test models ('atelier testmodels --module txt2img-basics --out DIR') and run "
        "with '--models DIR'."
    )


def test_a_run_past_its_time_is_interrupted(tmp_path: Path) -> None:
    client = FakeClient([("idle", {})] * 3)
    with pytest.raises(AtelierError) as err:
        execute(client, job(), tmp_path, NODE_LIST, timeout=0)
    assert err.value.text == "The workflow did not finish within 0 seconds."
    assert client.posted == ["/interrupt"]


def test_smoke_caps_steps_and_keeps_sizes() -> None:
    quick = smoke_settings(job("prompts-and-negatives"))
    samplers = [n["inputs"] for n in quick.prompt.values() if n["class_type"] == "KSampler"]
    assert len(samplers) == 2 and all(s["steps"] == 2 for s in samplers)
    latent = next(n["inputs"] for n in quick.prompt.values() if n["class_type"] == "EmptyLatentImage")
    assert (latent["width"], latent["height"]) == (512, 512)
    assert job("prompts-and-negatives").prompt != quick.prompt


def test_smoke_makes_video_sound_3d_and_sdxl_lighter_and_expects_what_it_asked_for() -> None:
    """On a CPU the lessons run smaller; the check then holds the outputs to the smaller sizes, not to none."""
    from atelier.comfy.headless import capped_outputs

    video = smoke_settings(job("text-to-video"))
    latent = next(n["inputs"] for n in video.prompt.values() if n["class_type"] == "EmptyHunyuanLatentVideo")
    assert (latent["width"], latent["height"], latent["length"]) == (160, 96, 9)  # 832×480 kept in shape, 4k+1 frames
    spec = {"kind": "video", "count": 1, "frames": 33, "width": 832, "height": 480}
    assert capped_outputs([spec], video) == [{"kind": "video", "count": 1, "frames": 9, "width": 160, "height": 96}]
    sound = smoke_settings(job("text-to-audio"))
    assert capped_outputs([{"kind": "audio", "count": 1, "seconds": 20}], sound) == [
        {"kind": "audio", "count": 1, "seconds": 5.0}
    ]
    sdxl = smoke_settings(job("sdxl-basics"))
    assert capped_outputs([{"kind": "image", "count": 1, "width": 1024, "height": 1024}], sdxl)[0]["width"] == 512
    mesh = smoke_settings(job("image-to-3d"))
    decode = next(n["inputs"] for n in mesh.prompt.values() if n["class_type"] == "VAEDecodeHunyuan3D")
    assert decode["octree_resolution"] == 32
    untouched = smoke_settings(job("upscale-with-model"))
    assert capped_outputs([{"kind": "image", "count": 1, "width": 2048, "height": 2048}], untouched)[0]["width"] == 2048


def test_a_comfyui_that_does_not_start_leaves_the_log_it_names(tmp_path: Path) -> None:
    """`atelier run` names ComfyUI's log and its last line; the log is still there to read."""
    import re
    import shutil
    import subprocess
    import sys

    broken = tmp_path / "ComfyUI"
    broken.mkdir()
    (broken / "main.py").write_text(
        "import sys\nprint('RuntimeError: Found no NVIDIA driver on your system.')\nsys.exit(1)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "atelier",
            "run",
            str(ROOT / "workflows" / "txt2img-basics"),
            "--comfyui",
            str(broken),
            "--python",
            sys.executable,
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    said = re.search(
        r"Error: ComfyUI did not start: it exited with code 1; its log ends: RuntimeError: Found no "
        r"NVIDIA driver on your system\. Its log is (\S+); the last lines",
        done.stderr,
    )
    assert said, done.stderr
    log = Path(said.group(1))
    assert "Found no NVIDIA driver" in log.read_text()
    shutil.rmtree(log.parent)
