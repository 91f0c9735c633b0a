"""The How-to notebook that drives ComfyUI, run under nbval against a real one with test models."""

from __future__ import annotations

from pathlib import Path

from atelier.comfy.server import ComfyServer
from tests.notebooks import NOTEBOOKS, nbval


def test_drive_comfyui_notebook_gives_its_saved_outputs(comfy_models: ComfyServer, tmp_path: Path) -> None:
    result = nbval(
        NOTEBOOKS / "drive-comfyui.ipynb",
        tmp_path,
        {"COMFYUI_URL": comfy_models.url, "ATELIER_KEY_FILE": str(comfy_models.token_file)},
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
