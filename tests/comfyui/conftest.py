"""A real ComfyUI for the `comfyui` tier, started the way the tools start it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.cli.comfyui import pinned_nodes
from atelier.comfy.server import ComfyServer
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import load_module
from tests.comfyui_env import comfyui_from_env

ROOT = Path(__file__).resolve().parents[2]
ATELIER = str(Path(sys.executable).parent / "atelier")
SD15_FAMILY = ["txt2img-basics", "prompts-and-negatives", "seeds-steps-cfg-samplers", "img2img", "inpainting", "lora"]


@pytest.fixture(scope="session")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    checkout, python = comfyui_from_env()
    # The semester's custom nodes load where ATELIER_CUSTOM_NODES names them, as for the commands.
    with ComfyServer(
        checkout, python, tmp_path_factory.mktemp("comfyui"), cpu=True, custom_nodes=pinned_nodes()
    ) as server:
        yield server


@pytest.fixture(scope="session")
def tiny_store() -> Path:
    checkout, python = comfyui_from_env()
    names = sorted({n for slug in SD15_FAMILY for n, _ in module_models(load_module(ROOT / "workflows" / slug))})
    store = default_store("tiny")
    assert generate(names, store, "tiny", checkout, python) == {}
    return store


@pytest.fixture(scope="session")
def comfy_models(tmp_path_factory: pytest.TempPathFactory, tiny_store: Path) -> Iterator[ComfyServer]:
    checkout, python = comfyui_from_env()
    workdir = tmp_path_factory.mktemp("comfy-models")
    with ComfyServer(checkout, python, workdir, cpu=True, models=tiny_store, custom_nodes=pinned_nodes()) as server:
        yield server


def serve(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`atelier serve --cpu` of a session in `workdir`: what it prints (each line stamped with the time) to read."""
    return subprocess.Popen(
        [ATELIER, "serve", "--cpu", "--workdir", str(workdir), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
