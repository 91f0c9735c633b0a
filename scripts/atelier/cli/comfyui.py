"""The ComfyUI a command starts or talks to: one place, so every command starts it the same way.

The command line reads which ComfyUI (--comfyui/--python, else COMFYUI_DIR/COMFYUI_PYTHON,
else the install that ATELIER_PREFIX names) and which custom nodes may load
(ATELIER_CUSTOM_NODES); library code is handed the result and never looks again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.comfy.server import ComfyServer, find_comfyui, tuning
from atelier.layout import Layout
from atelier.tools.declaration import Tool
from atelier.tools.server import ToolServer


def pinned_nodes() -> tuple[str, ...]:
    """The semester's custom nodes ComfyUI may load, as `atelier install` names them in atelier.env."""
    return tuple(os.environ.get("ATELIER_CUSTOM_NODES", "").split())


@dataclass(frozen=True)
class ComfyChoice:
    """Which ComfyUI a command starts, and how: the four options (options.server_options, or
    screenshot_options) as one value, handed to the command in their place.

    `comfyui`/`python` are --comfyui/--python (or COMFYUI_DIR/COMFYUI_PYTHON); `models` the model
    store; `cpu` whether ComfyUI keeps off the GPU.
    """

    comfyui: str | None = None
    python: str | None = None
    models: Path | None = None
    cpu: bool = False

    def install(self) -> tuple[Path, Path]:
        """(checkout, interpreter) to run: --comfyui/--python (or COMFYUI_DIR/COMFYUI_PYTHON), else the
        prefix that the sourced atelier.env names in ATELIER_PREFIX."""
        return find_comfyui(self.comfyui, self.python, os.environ.get("ATELIER_PREFIX"))

    def server(self, workdir: Path, *, options: tuple[str, ...] = (), **settings: Any) -> ComfyServer:
        """Every ComfyUI a command starts (serve, run, check, sweep-task, bench, screenshots, strips):
        the install found the one way, only the semester's custom nodes, speed options checked.

        `options` are --comfyui-option values; `settings` are ComfyServer's own (port, listen,
        key_file: the session key's file, read when it exists, else made there; outputs, user_dir,
        input_dir), and `models` and `cpu` where the command's differ from the choice's. Library code
        that starts several (bench) is handed this one and copies it with dataclasses.replace.
        """
        settings = {"models": self.models, "cpu": self.cpu, **settings}
        checkout, interpreter = self.install()
        extra_args = tuning(options, "--comfyui-option", settings["cpu"])
        return ComfyServer(
            checkout, interpreter, workdir, extra_args=extra_args, custom_nodes=pinned_nodes(), **settings
        )


def read_key(path: Path | None) -> str | None:
    """A running session's key, from a file so it never shows in a command line or a log."""
    return path.read_text(encoding="utf-8").strip() if path else None


def tool_python(tool: Tool) -> Path:
    """A tool's Python, in the install that the sourced atelier.env names in ATELIER_PREFIX (<prefix>/<name>-venv),
    else in ./<name>-venv."""
    prefix = os.environ.get("ATELIER_PREFIX")
    venv = Layout.of(Path(prefix)).tool_venv(tool.name) if prefix else Path(f"{tool.name}-venv").absolute()
    return Layout.python(venv)


def tool_server(tool: Tool, workdir: Path, **settings: Any) -> ToolServer:
    """A tool beside ComfyUI, with its installed environment; `settings` are ToolServer's own."""
    return ToolServer(tool, tool_python(tool), workdir, **settings)
