"""Screenshots of the tools beside ComfyUI, for their Start here page: InvokeAI's canvas.

Taken the way site/screenshots.py takes ComfyUI's: the tool starts as a session starts it
(behind the gate, on random-weight test models), Chromium logs in with the session key and
clicks what a student clicks, and each picture gets numbered marks, a phone-width crop and
alt text. The entries go under their own key (`invokeai:`) of the same manifest, so
`atelier screenshots` for ComfyUI, which rewrites its own sections and removes the pictures
it no longer lists, leaves these alone, and these leave ComfyUI's alone.

The walk follows docs/start/canvas.md: the canvas set up for a first picture; Invoke, and the
picture waiting on the canvas with its Accept button; the Add Layer menu; then an inpaint
mask painted with the brush over part of the picture, a new prompt, Invoke again, and Accept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

from atelier.messages import AtelierError
from atelier.site import screenshots
from atelier.site import screenshots_marks as marks
from atelier.tools.server import ToolServer

KEY = "invokeai"  # its section of the manifest
PROMPT = "a still life of pears on a table, oil painting"
INPAINT_PROMPT = "a red apple"
SIZE = 256  # a quick picture on a CPU
STEPS = 2
WAIT_MS = 900_000  # a picture on a CPU, the model loaded first
# Where things are in InvokeAI 6.14.2's page, by test id, aria-label or form label (its English words).
UI = {
    "canvas_tab": "[data-testid=Canvas]",  # the left bar's Canvas button
    "prompt": "textarea[name=prompt]",
    "whats_new": "What's New",  # the release note that opens on the first visit
    "stage": ".konvajs-content",  # the canvas itself
    "add_layer": "[data-testid=control-layers-add-layer-menu-button]",
    "thumbnail": "img[src*='api/v1/images/i/'][src$='/thumbnail']",
}
CANVAS = marks.Target("the Canvas button in the left bar", css=UI["canvas_tab"], place="right")
PROMPT_BOX = marks.Target("the Prompt box", css=UI["prompt"], place="corner")
WIDTH = marks.Target("the Width box", css='internal:label="Width"s', place="right")
INVOKE = marks.Target("the Invoke button", css='internal:role=button[name="Invoke"s]', attribute="text", place="right")
RESULT = marks.Target("the new picture on the canvas", css=UI["stage"], place="corner")
ACCEPT = marks.Target("the Accept button", css="button[aria-label^='Accept'] >> visible=true", place="right")
BRUSH = marks.Target("the Brush tool", css="button[aria-label^='Brush'] >> visible=true", place="right")
ERASER = marks.Target("the Eraser tool", css="button[aria-label^='Eraser'] >> visible=true", place="right")
ADD_LAYER = marks.Target("the Add Layer button (+) under the Layers list", css=UI["add_layer"], place="right")
ADD_MASK = marks.Target(
    "Inpaint Mask, in the Add Layer menu",
    css='internal:role=menuitem[name="Inpaint Mask"i] >> visible=true',
    attribute="text",
)
MASK = marks.Target(
    "the inpaint mask in the Layers list", css='internal:text="Inpaint Mask"s >> visible=true', attribute="text"
)


def model_target(model: str) -> marks.Target:
    """The model picker: a button that shows the picked model's name."""
    return marks.Target("the model picker", css=f"button:text-is({model!r}) >> visible=true", attribute="text")


def marks_for(model: str) -> dict[str, tuple[marks.Target, ...]]:
    """Each picture's marks, in the order the page names them."""
    return {
        "invokeai-canvas.png": (CANVAS, PROMPT_BOX, WIDTH, model_target(model), INVOKE),
        "invokeai-first.png": (RESULT, ACCEPT),
        "invokeai-layers.png": (ADD_LAYER, ADD_MASK),
        "invokeai-inpaint.png": (MASK, BRUSH, ERASER, INVOKE),
    }


def _label(page: Any, target: marks.Target) -> tuple[str, marks.Rect]:
    locator = page.locator(target.css).first
    box = locator.bounding_box() if page.locator(target.css).count() else None
    if not box or box["width"] <= 0:
        raise marks.MarkMissing(f"{target.called} ({target.css}) is not on the page")
    if target.attribute == "text":
        label = locator.inner_text().strip()
    else:
        label = locator.get_attribute(target.attribute) or locator.inner_text().strip() or target.called
    return label, (box["x"], box["y"], box["width"], box["height"])


def _marked(page: Any, name: str, targets: tuple[marks.Target, ...]) -> tuple[dict[str, bytes], marks.Marked]:
    """Picture `name` with its numbered marks drawn over the page, and its crop for phones."""
    area = (0.0, 0.0, float(screenshots.VIEWPORT["width"]), float(screenshots.VIEWPORT["height"]))
    found = []
    for number, target in enumerate(targets, start=1):
        label, box = _label(page, target)
        at = marks._badge(box, area, target.place)
        found.append((marks.Mark(number, label, target.called, box, at), box))
    drawn = [
        {
            "number": m.number,
            "page_box": box,
            "size": marks.BADGE,
            "colour": ",".join(map(str, marks.MARK_COLOUR)),
            "page_at": m.at,
        }
        for m, box in found
    ]
    page.evaluate(marks.DRAW_JS, [drawn, None])
    result = marks.Marked([m for m, _ in found], area)
    try:
        page.wait_for_timeout(100)
        browser = screenshots.Browser(page)
        pictures = {name: browser.shot(), marks.crop_name(name): screenshots._optimised_png(marks.crop(page, result))}
    finally:
        marks.clear(page)
    return pictures, result


def _settle(page: Any) -> None:
    page.mouse.move(640, 790)  # off the buttons: no tooltip
    page.wait_for_timeout(800)


def _noise(model: str) -> str:
    """Said in every picture's alt text: the test model paints noise."""
    return (
        f" The model is '{model}', a test model with random weights, so the picture it makes is coloured "
        "noise; a real model paints what the prompt describes."
    )


def _alts(version: str, model: str) -> dict[str, str]:
    test = _noise(model)
    return {
        "invokeai-canvas.png": f"InvokeAI {version} with its Canvas view open. Left bar: the buttons for each "
        f"view. Left panel: the Invoke button at the top, the Prompt box holding '{PROMPT}', the Image section "
        f"with Width and Height set to {SIZE}, and the Generation section with the model picker. Middle: the "
        "Launchpad, titled 'Edit and refine on Canvas', with the canvas's tool bar down its left edge. Right: "
        "the gallery, empty, and the list of layers to add." + test,
        "invokeai-first.png": "InvokeAI's Canvas view after pressing Invoke: the middle has turned into the "
        "canvas, the new picture waits on it, and the bar below it holds the Accept button (a tick), with "
        "Discard and the other staging buttons." + test,
        "invokeai-layers.png": "InvokeAI's Canvas view after accepting the first picture: the picture is on "
        "the canvas, the Layers list on the right shows it as a Raster Layer, and the Add Layer menu is open "
        "under the list, with Inpaint Mask at the top." + test,
        "invokeai-inpaint.png": "InvokeAI's Canvas view after inpainting: the Layers list shows the Inpaint "
        "Mask layer, the Brush and Eraser tools sit in the tool bar at the canvas's left edge, and the new "
        f"picture, made from the prompt '{INPAINT_PROMPT}', waits on the canvas with its Accept button." + test,
    }


def _open(page: Any, server: ToolServer) -> None:
    page.goto(f"{server.url}/atelier/login")
    page.fill("#token", server.token or "")
    page.click("button[type=submit]")
    page.locator(INVOKE.css).wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    close = page.get_by_role("button", name="Close", exact=True)
    with suppress(sync_api_error()):  # the release note would hide the left panel's lower half
        close.first.wait_for(state="visible", timeout=15_000)
        close.first.click()


def sync_api_error() -> type[Exception]:
    return screenshots._playwright().Error


def _set_up(page: Any) -> None:
    """The Canvas view with the prompt, a small size and few steps: a quick picture on a CPU."""
    page.locator(UI["canvas_tab"]).click()
    page.locator(UI["prompt"]).fill(PROMPT)
    for label in ("Width", "Height"):
        box = page.get_by_label(label, exact=True)
        box.fill(str(SIZE))
        box.press("Enter")
    steps = page.get_by_label("Steps", exact=True)
    more = page.get_by_role("button", name="Advanced Options")
    for index in range(more.count()):  # Steps hides in the Generation section's advanced options
        if steps.is_visible():
            break
        more.nth(index).click()
    steps.fill(str(STEPS))
    steps.press("Enter")
    for index in range(more.count()):  # and closed again, as a student first sees the panel
        more.nth(index).click()
    page.locator(UI["prompt"]).scroll_into_view_if_needed()


def _invoke(page: Any) -> None:
    """Invoke, and wait until the picture waits on the canvas for Accept."""
    page.locator(INVOKE.css).click()
    ready = "button[aria-label^='Accept']:enabled >> visible=true"  # shown, greyed out, while it paints
    page.locator(ready).first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(1500)  # the picture drawn on the canvas


def _accept(page: Any) -> None:
    page.locator(ACCEPT.css).first.click()
    page.locator(ACCEPT.css).first.wait_for(state="hidden")


def _paint(page: Any) -> None:
    """A brush stroke across the middle of the picture, as a student masks one pear."""
    box = page.locator(UI["stage"]).first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 60, y - 20)
    page.mouse.down()
    for step in range(13):
        page.mouse.move(x - 60 + step * 10, y - 20 + (step % 2) * 40, steps=3)
    page.mouse.up()


def _walk(page: Any, doing: Callable[[str], None]) -> tuple[dict[str, bytes], dict[str, marks.Marked], str]:
    pictures: dict[str, bytes] = {}
    marked: dict[str, marks.Marked] = {}

    def take(name: str) -> None:
        _settle(page)
        taken, marked[name] = _marked(page, name, targets[name])
        pictures.update(taken)

    doing("the Canvas view")
    _set_up(page)
    model = _model(page)
    targets = marks_for(model)
    take("invokeai-canvas.png")
    doing("the first picture (Invoke, on a CPU: minutes)")
    _invoke(page)
    take("invokeai-first.png")
    _accept(page)
    doing("the Layers list")
    page.locator(UI["add_layer"]).first.click()  # the + under the Layers list: its menu of layers to add
    page.locator(ADD_MASK.css).first.wait_for(state="visible")
    take("invokeai-layers.png")
    doing("the inpaint mask (Invoke, on a CPU: minutes)")
    page.locator(ADD_MASK.css).first.click()
    page.locator(BRUSH.css).first.click()
    _paint(page)
    page.locator(UI["prompt"]).fill(INPAINT_PROMPT)
    _invoke(page)
    take("invokeai-inpaint.png")
    _accept(page)
    return pictures, marked, model


def _model(page: Any) -> str:
    """The main model the page's model picker shows."""
    found = page.evaluate(
        "async () => (await (await fetch('api/v2/models/?model_type=main')).json()).models.map(m => m.name)"
    )
    for name in found:
        if page.locator(model_target(str(name)).css).count():
            return str(name)
    raise marks.MarkMissing(f"the model picker shows none of InvokeAI's main models ({', '.join(found)})")


def take_invokeai(
    out: Path,
    server: ToolServer,
    progress: Callable[[str], None] = lambda _: None,
    chromium: Path = screenshots.CHROMIUM,
) -> list[screenshots.Shot]:
    """InvokeAI's Canvas pictures into `out`, with their entries under `invokeai:` in the manifest.

    `server` is the tool to start (not yet started), on random-weight test models.
    """
    sync_api = screenshots._playwright()
    if not chromium.is_file():
        raise AtelierError("screenshots-no-browser", what=f"Chromium at {chromium} (apt-get install chromium)")
    step = ["starting InvokeAI"]
    failure = server.workdir / "failure.png"
    hosts: set[str] = set()
    blocked: list[str] = []

    def doing(name: str) -> None:
        step[0] = name
        progress(f"Taking {name}" if name.startswith("the ") else name[0].upper() + name[1:])

    try:
        doing("starting InvokeAI")
        server.start()
        with screenshots._playwright().sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium), args=screenshots.BROWSER_ARGS)
            try:
                context = browser.new_context(
                    viewport=screenshots.VIEWPORT, device_scale_factor=marks.CROP_SCALE, color_scheme="dark"
                )
                context.route("**/*", _router(hosts, blocked))
                page = context.new_page()
                page.set_default_timeout(60_000)
                try:
                    doing("opening InvokeAI in Chromium")
                    _open(page, server)
                    version = str(
                        page.evaluate("async () => (await (await fetch('api/v1/app/version')).json()).version")
                    )
                    pictures, marked, model = _walk(page, doing)
                except (sync_api.Error, marks.MarkMissing):
                    with suppress(sync_api.Error):
                        page.screenshot(path=str(failure))
                    raise
            finally:
                browser.close()
    except (sync_api.Error, marks.MarkMissing) as err:
        reason = (str(err).strip().splitlines() or ["no reason given"])[0][:300].rstrip(".")
        picture = failure if failure.is_file() else "(none)"
        raise AtelierError("screenshots-failed", step=step[0], reason=reason, picture=picture, log=server.log) from None
    finally:
        server.stop()
    if blocked:
        raise AtelierError("screenshots-external", url=blocked[0], count=len(blocked))
    alts = _alts(version, model)
    for name, found in marked.items():
        alts[name] += f" Numbered marks: {marks.words_for(found)}."
        alts[marks.crop_name(name)] = marks.crop_alt(found, test_label=False) + _noise(model)
    shots = [screenshots.Shot(name, alts[name]) for name in pictures]
    write(out, shots, pictures, marked, version)
    return shots


def _router(hosts: set[str], blocked: list[str]) -> Callable[[Any], None]:
    """As site/screenshots.py routes ComfyUI's page: 127.0.0.1 only, anything else recorded and refused."""

    def route(request_route: Any) -> None:
        url = request_route.request.url
        host = url.split("/")[2].split(":")[0] if "://" in url else ""
        hosts.add(host or "inline")
        if url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    return route


def write(
    out: Path, shots: list[screenshots.Shot], pictures: dict[str, bytes], marked: dict[str, marks.Marked], version: str
) -> Path:
    """The pictures, and the `invokeai:` section of the manifest; every other section is kept as it was."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / screenshots.MANIFEST
    before = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}) if manifest.is_file() else {}
    for stale in set((before.get(KEY) or {}).get("screenshots") or {}) - set(pictures):
        (out / stale).unlink(missing_ok=True)
    for name, data in pictures.items():
        (out / name).write_bytes(data)
    before[KEY] = {
        "made_by": "atelier screenshots --tool invokeai",
        "invokeai": version,
        "made": time.strftime("%Y-%m-%d"),
        "viewport": f"{screenshots.VIEWPORT['width']}x{screenshots.VIEWPORT['height']}",
        "models": "random-weight test models (atelier testmodels --tool invokeai)",
        "screenshots": {shot.file: shot.alt for shot in shots},
        "marks": {name: marks.record(found) for name, found in marked.items()},
    }
    header = "# Made by `atelier screenshots`: regenerate, never edit by hand. File -> alt text.\n"
    text = yaml.safe_dump(before, sort_keys=False, allow_unicode=True, width=1000)
    manifest.write_text(header + text, encoding="utf-8")
    return manifest
