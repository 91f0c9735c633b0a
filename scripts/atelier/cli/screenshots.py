"""The `screenshots` and `strips` commands: remake the site's pictures of ComfyUI and of each knob.

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

from atelier.check.hardware import device_name
from atelier.cli.comfyui import ComfyChoice, tool_python, tool_server
from atelier.cli.lookup import pick_modules, project
from atelier.cli.options import FOLDER, MODULES, TOOL, screenshot_options
from atelier.messages import AtelierError, plural
from atelier.site import screenshots, screenshots_tools, strips
from atelier.tools.declaration import Tool, find_tool
from atelier.tools.server import make_test_models


@click.command("screenshots", hidden=True)
@click.option(
    "--out",
    type=FOLDER,
    help="Where the pictures and their manifest (alt text) go (default: the project's docs/assets/screenshots).",
)
@screenshot_options
@click.option("--quick", is_flag=True, help="Make the first image small and in one step (for tests).")
@TOOL
def screenshots_command(out: Path | None, comfy: ComfyChoice, quick: bool, tool_name: str | None) -> None:
    """Screenshot every lesson's workflow in a real ComfyUI, and the Start here pictures.

    Starts ComfyUI the way a session does, opens each lesson from the Workflows panel in
    Chromium, and writes OUT/LESSON.png and the tour's pictures, with their alt text in
    OUT/screenshots.yml. On a CPU the first image takes minutes. With --tool, that tool's
    pictures instead, under its own key of the same manifest.
    """
    tool = find_tool(project().tools, tool_name) if tool_name else None
    if tool and not tool.builtin:
        _tool_screenshots(tool, out, comfy.models)
        return
    comfy.install()  # a missing ComfyUI is said before a folder is made for it
    found = project()
    out = out or found.screenshots
    modules = found.modules
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="atelier-shots-"))  # kept when it fails: the log and the page
    with Console(stderr=True).status("Starting") as status:
        result = screenshots.take(
            out,
            modules,
            found.nodes,
            comfy.server(workdir, models=None),  # take() starts it on `models`, or on test models it makes
            models=comfy.models,
            quick=quick,
            progress=status.update,
        )
    shutil.rmtree(workdir, ignore_errors=True)
    total = sum((out / shot.file).stat().st_size for shot in result.shots)
    click.echo(
        f"Made {len(result.shots)} screenshots of ComfyUI {result.comfyui} (frontend {result.frontend}) "
        f"in {out} ({total / 1024:.0f} KB) in {time.monotonic() - started:.0f} s; alt text in "
        f"{result.manifest}."
    )


def _tool_screenshots(tool: Tool, out: Path | None, models: Path | None) -> None:
    """`--tool NAME`: the tool started as a session starts it, on its test models unless a store is given."""
    found = project()
    name = tool.name
    if name != "invokeai":
        raise click.UsageError(f"there are no screenshots of {tool.title} yet; --tool takes invokeai")
    out = out or found.screenshots
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f"atelier-shots-{name}-"))  # kept when it fails: the log and the page
    with Console(stderr=True).status("Making the test models" if models is None else "Starting") as status:
        store = models or workdir / "models"
        if models is None:
            make_test_models(tool, tool_python(tool), store)
        server = tool_server(tool, workdir / "session", models=store, outputs=workdir / "outputs")
        shots = screenshots_tools.take_invokeai(out, server, status.update)
    shutil.rmtree(workdir, ignore_errors=True)
    total = sum((out / shot.file).stat().st_size for shot in shots)
    click.echo(
        f"Made {len(shots)} screenshots of {tool.title} in {out} ({total / 1024:.0f} KB) in "
        f"{time.monotonic() - started:.0f} s; alt text under '{screenshots_tools.KEY}' in "
        f"{out / screenshots.MANIFEST}."
    )


@click.command("strips", hidden=True)
@MODULES
@click.option(
    "--out", type=FOLDER, help="Where the pictures and what made them go (default: the project's docs/assets/knobs)."
)
@screenshot_options
def strips_command(names: tuple[str, ...], out: Path | None, comfy: ComfyChoice) -> None:
    """Make each lesson's knob strips: a picture for every "Try" value of every knob.

    Made the way `atelier sweep` makes its pictures, for every lesson with knobs, or only
    those --module names. Without --real-models: random-weight test models on the CPU,
    small and in few steps, and the lesson page says so. With the real models
    (--real-models and --use-gpu, as the GPU lesson check runs it), the page says when and
    on which GPU they were made.
    """
    checkout, interpreter = comfy.install()  # also what makes the test models
    found = project()
    out = out or found.knob_pictures
    modules = [m for m in pick_modules(names) if strips.has_strips(m)]
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="atelier-strips-"))
    failed: list[AtelierError] = []
    with Console(stderr=True).status("Making the test models" if comfy.models is None else "Starting") as status:
        store = comfy.models or screenshots.test_store(modules, checkout, interpreter)
        with comfy.server(workdir, models=store) as server:
            stats = server.client().get_json("/system_stats")
            device = "the CPU" if comfy.cpu else device_name(str((stats.get("devices") or [{}])[0].get("name", "GPU")))
            version = str(stats.get("system", {}).get("comfyui_version", ""))
            for module in modules:
                kind = strips.models_kind(module, store)  # read from the weights: a store of test models says so
                made = strips.Made(strips.today(), device, kind, version)
                try:
                    manifest = strips.make(
                        module,
                        out,
                        server.client(timeout=60),
                        found.nodes,
                        made,
                        smoke=kind == "test",
                        on_step=status.update,
                    )
                except AtelierError as err:  # one lesson's missing model leaves the others' strips to be made
                    failed.append(err)
                    click.echo(f"{module.slug}: {err}", err=True)
                    continue
                click.echo(f"{module.slug}: strips made with {kind} models on {device}, in {manifest}")
    shutil.rmtree(workdir, ignore_errors=True)
    click.echo(
        f"Made the knob strips of {plural(len(modules) - len(failed), 'lesson')} on {device} "
        f"in {time.monotonic() - started:.0f} s."
    )
    if failed:
        raise failed[0]
