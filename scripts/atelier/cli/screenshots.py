"""The `screenshots` command: remakes the site's pictures of ComfyUI.

Apart from cli.py, which is near its size limit; the same rules apply: parse, call the
library, print. Hidden from `atelier --help`: maintainers run it when the frontend or a
lesson changes, nobody else needs it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console

from atelier.site import screenshots
from atelier.cli.options import comfyui_install, pinned_nodes, project, screenshot_options


@click.command("screenshots", hidden=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where the pictures and their manifest (alt text) go (default: the project's docs/assets/screenshots).")
@screenshot_options
@click.option("--quick", is_flag=True, help="Make the first image small and in one step (for tests).")
def screenshots_command(out: Path | None, comfyui: str | None, python: str | None, models: Path | None, gpu: bool,
                quick: bool) -> None:
    """Screenshot every lesson's workflow in a real ComfyUI, and the Start here pictures.

    Starts ComfyUI the way a session does, opens each lesson from the Workflows panel in
    Chromium, and writes OUT/LESSON.png and the tour's pictures, with their alt text in
    OUT/screenshots.yml. On a CPU the first image takes minutes.
    """
    checkout, interpreter = comfyui_install(comfyui, python)
    found = project()
    out = out or found.screenshots
    modules = found.modules
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="atelier-shots-"))  # kept when it fails: the log and the page
    with Console(stderr=True).status("Starting") as status:
        result = screenshots.take(out, modules, found.nodes, checkout, interpreter, workdir,
                            models=models, cpu=not gpu, quick=quick, progress=status.update,
                            custom_nodes=pinned_nodes())
    shutil.rmtree(workdir, ignore_errors=True)
    total = sum((out / shot.file).stat().st_size for shot in result.shots)
    click.echo(f"Made {len(result.shots)} screenshots of ComfyUI {result.comfyui} (frontend {result.frontend}) "
               f"in {out} ({total / 1024:.0f} KB) in {time.monotonic() - started:.0f} s; alt text in "
               f"{result.manifest}.")
