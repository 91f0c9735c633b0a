"""The ComfyUI a test tier runs, named by the environment as the command line reads it."""

from __future__ import annotations

import os
from pathlib import Path

from atelier.comfy.server import find_comfyui


def comfyui_from_env() -> tuple[Path, Path]:
    """(checkout, Python) from COMFYUI_DIR and COMFYUI_PYTHON, else ATELIER_PREFIX's install."""
    return find_comfyui(
        os.environ.get("COMFYUI_DIR"), os.environ.get("COMFYUI_PYTHON"), os.environ.get("ATELIER_PREFIX")
    )
