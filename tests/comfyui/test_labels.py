"""The ComfyUI labels pages tell students to press are strings of the pinned frontend itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.comfyui_env import comfyui_from_env
from tests.labels import COMFYUI


def test_every_comfyui_label_a_page_names_is_in_the_frontend() -> None:
    _, python = comfyui_from_env()
    static = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import comfyui_frontend_package as f, os; print(os.path.join(os.path.dirname(f.__file__), 'static'))",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    bundle = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in static.rglob("*.js"))
    missing = [label for label in COMFYUI if f'"{label}"' not in bundle]
    assert not missing, f"not a string of ComfyUI's frontend at {static}: {missing}"
