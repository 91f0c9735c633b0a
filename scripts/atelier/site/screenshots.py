"""Screenshots of ComfyUI for the site, made by a script against a real ComfyUI.

A hand-made screenshot goes stale with the next frontend. These are remade with one
command from the lesson modules themselves: ComfyUI starts the way `atelier serve`
starts it, each workflow is opened the way a student opens it (from the Workflows
panel, where a session offers its lesson), fitted to the window and saved at a fixed
size. The alt text is written beside the pictures in a manifest, from the same graph
description the lesson pages use, so no picture lacks its words. The Start here pictures
carry numbered marks and a phone-width crop (screenshots_marks). The browser may
reach 127.0.0.1 only: any other request is blocked and fails the run.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from atelier.comfy.server import FIRST_SETTINGS, LOGIN, ComfyServer, panel_copy
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.layout import SETTINGS as SETTINGS_FILE
from atelier.layout import WORKFLOWS
from atelier.lessons.modules import Module
from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError
from atelier.site import screenshots_box
from atelier.site import screenshots_marks as marks
from atelier.site.pages.lessons import SCREENSHOT_MANIFEST as MANIFEST
from atelier.site.pages.lessons import describe_alt, screenshot_alts

VIEWPORT = {"width": 1280, "height": 800}
SAVED = "My still life.json"  # a workflow the student saved in an earlier session
CHROMIUM = Path(os.environ.get("ATELIER_CHROMIUM", "/usr/bin/chromium"))  # Debian's; never a downloaded build
BROWSER_ARGS = [  # headless, unable to resolve any host but this one; the site tests launch Chromium with these too
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
TOUR = "txt2img-basics"  # the lesson "Start here" walks through
QUICK = {"steps": 1, "width": 128, "height": 128}  # --quick: a first image a CPU makes in seconds
# Set before the page loads: a session's own settings, and, zoomed out to fit, the canvas would
# otherwise draw nodes without their words.
SETTINGS = {**FIRST_SETTINGS, "LiteGraph.Canvas.MinFontSizeForLOD": 0}
MODULE_VIEW = {"Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False}  # lessons: the workflow, no chrome
# Where things are in frontend 1.27, by class and test id rather than by their (translated) words.
UI = {
    "workflows": "button.workflows-tab-button",
    "panel": ".workflows-sidebar-tab",
    "browse": ".comfyui-workflows-browse",
    "refresh": ".workflows-sidebar-tab button:has(.pi-refresh)",
    "run": "[data-testid=queue-button] .p-splitbutton-button",
    "actionbar": ".actionbar",
}
# The labels the frontend gives them, read from the page for the tutorial's words.
LABELS_JS = """() => {
    const label = (selector, attribute = 'aria-label') => {
        const found = document.querySelector(selector);
        return found ? (found.getAttribute(attribute) || found.textContent.trim()) : null;
    };
    const sidebar = {}, sidebar_other = [];
    for (const button of document.querySelectorAll('.side-bar-button')) {
        const name = [...button.classList].find(c => c.endsWith('-tab-button'));
        if (name) sidebar[name.replace('-tab-button', '')] = button.getAttribute('aria-label');
        else sidebar_other.push(button.getAttribute('aria-label'));
    }
    const canvas = [...document.querySelectorAll('.p-buttongroup button[aria-label]')]
        .filter(b => !b.closest('.actionbar')).map(b => b.getAttribute('aria-label'));
    const save = window.app.graph._nodes.find(n => n.type === 'SaveImage');
    return {
        run: label('[data-testid=queue-button] .p-splitbutton-button'),
        batch_count: label('.actionbar .batch-count'),
        actionbar_buttons: [...document.querySelectorAll('.actionbar button[aria-label]')]\
.map(b => b.getAttribute('aria-label')),
        sidebar, sidebar_other, canvas_controls: canvas,
        workflows_panel: label('.workflows-sidebar-tab .comfy-vue-side-bar-header [title]', 'title'),
        workflows_section: label('.comfyui-workflows-browse span'),
        workflow_tab: label('.workflow-tabs [aria-pressed=true] .workflow-label'),
        save_image_node: save ? save.title : null,
    };
}"""
SETTLE_JS = """async () => {
    await document.fonts.ready;
    window.app.canvas.setDirty(true, true);
    await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
}"""


@dataclass
class Shot:
    file: str
    alt: str
    nodes: int | None = None  # nodes on the canvas when it was taken (lesson shots)


@dataclass
class Result:
    folder: Path
    shots: list[Shot]
    comfyui: str
    frontend: str
    labels: dict[str, Any]
    hosts: set[str] = field(default_factory=set)  # every host the page asked for
    marked: dict[str, marks.Marked] = field(default_factory=dict)  # picture -> its marks, crop and label

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST


def module_alt(module: Module, node_list: NodeList) -> str:
    title = module.title
    return f"ComfyUI with the lesson '{title}' open, zoomed to fit. {describe_alt(module, node_list)}"


def tour_alt(title: str, labels: dict[str, Any], test_models: bool, quick: bool) -> dict[str, str]:
    """Alt text for the Start here pictures, naming the controls as the page labels them."""
    side = labels.get("sidebar", {})
    entry = f"{title}.json"
    picture = (
        "made here by a random-weight test model, so it is coloured noise; yours shows what the prompt describes"
        if test_models
        else "the picture the prompt describes"
    )
    others = "' and '".join(b for b in labels.get("actionbar_buttons", []) if b != labels.get("run"))
    size = f"{QUICK['width']} × {QUICK['height']} in {QUICK['steps']} step" if quick else "512 × 512"
    return {
        "tour-workflows.png": f"ComfyUI just after it opens, with the {labels.get('workflows_panel')} panel open "
        f"on the left (the '{side.get('workflows')}' button in the left sidebar opens it). "
        f"Under '{labels.get('workflows_section')}' it lists the lesson's workflow, '{entry}'.",
        "tour-canvas.png": f"The whole ComfyUI window with the lesson '{title}' open in its own tab. Top right: the "
        f"blue '{labels.get('run')}' button. Left edge: the sidebar's icon buttons, named when pointed at "
        f"({', '.join(repr(v) for v in side.values() if v)}). Middle: the workflow's nodes joined by "
        f"wires, with notes that explain each step. Bottom right: the canvas controls and a "
        f"small map of the whole workflow.",
        "tour-run.png": f"The top right corner of ComfyUI: the blue '{labels.get('run')}' button with an arrow beside "
        f"it for other ways to run, the '{labels.get('batch_count')}' field (how many pictures one "
        f"press makes, 1), and the '{others}' buttons, greyed out while nothing runs.",
        "saved-next-session.png": f"The {labels.get('workflows_panel')} panel of a later session: under "
        f"'{labels.get('workflows_section')}', '{SAVED}' that the student saved in an earlier "
        f"session, and the lesson's '{entry}'.",
        "first-image-done.png": f"ComfyUI after pressing '{labels.get('run')}' on the lesson '{title}': the "
        f"'{labels.get('save_image_node')}' node at the right now shows the finished "
        f"picture, {size} ({picture}).",
    }


def _optimised_png(raw: bytes) -> bytes:
    """256 colours, no dithering: a canvas screenshot stays sharp at a third of the size."""
    from PIL import Image

    image = Image.open(io.BytesIO(raw)).convert("RGB")
    small = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, "PNG", optimize=True)
    return out.getvalue()


def _write_settings(server: ComfyServer) -> None:
    path = server.user_folder / SETTINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(SETTINGS, indent=1), encoding="utf-8")


def test_store(modules: list[Module], checkout: Path, python: Path) -> Path:
    """The random-weight models the lessons name (those with a test variant; the rest stay missing)."""
    store = default_store("tiny")
    generate(sorted({name for m in modules for name, _ in module_models(m)}), store, "tiny", checkout, python)
    return store


def _playwright() -> Any:
    """Playwright's sync API, or a plain message saying what to install."""
    try:
        from playwright import sync_api
    except ImportError:
        raise AtelierError("screenshots-no-browser", what="Playwright for Python (pip install -e '.[test]')") from None
    return sync_api


class Browser:
    """One Chromium page logged in to the session's ComfyUI, driven the way a student clicks."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def set(self, settings: dict[str, Any]) -> None:
        self.page.evaluate(
            "async (s) => { for (const [k, v] of Object.entries(s)) "
            "await window.app.extensionManager.setting.set(k, v); }",
            settings,
        )

    def command(self, name: str) -> None:
        self.page.evaluate("async (c) => { await window.app.extensionManager.command.execute(c); }", name)

    def labels(self) -> dict[str, Any]:
        return dict(self.page.evaluate(LABELS_JS))

    def panel(self, show: bool) -> None:
        """Open or close the Workflows panel with its sidebar button."""
        if self.page.locator(UI["panel"]).is_visible() != show:
            self.page.locator(UI["workflows"]).click()
        self.page.locator(UI["panel"]).wait_for(state="visible" if show else "hidden")

    def refresh(self) -> None:
        """The panel's refresh button (shown on hover): lists workflows offered since it opened."""
        self.panel(True)
        self.page.locator(UI["panel"]).hover()
        self.page.locator(UI["refresh"]).click()

    def open(self, module: Module) -> int:
        """Open a lesson from the Workflows panel and wait until the canvas holds all its nodes."""
        title = module.title
        self.panel(True)
        self.page.locator(UI["browse"]).get_by_role("treeitem", name=f"{title}.json", exact=True).click()
        self.page.wait_for_function(
            "([name, count]) => { const open = window.app.extensionManager.workflow.activeWorkflow;"
            " return open && open.filename === name && window.app.graph._nodes.length === count; }",
            arg=[title, len(module.nodes())],
        )
        self.panel(False)
        return int(self.page.evaluate("window.app.graph._nodes.length"))

    def fit(self) -> None:
        self.command("Comfy.Canvas.FitView")
        self.settle()

    def settle(self) -> None:
        """The canvas draws on animation frames and moves its text fields after; let both finish."""
        self.page.mouse.move(VIEWPORT["width"] / 2, 12)  # off the canvas and the buttons: no hover, no tooltip
        self.page.evaluate(SETTLE_JS)
        self.page.wait_for_timeout(800)
        self.page.evaluate(SETTLE_JS)

    def shot(self, clip: dict[str, float] | None = None) -> bytes:
        """At one pixel per CSS pixel, though the page is drawn at the crops' scale."""
        return _optimised_png(self.page.screenshot(clip=clip, animations="disabled", caret="hide", scale="css"))

    def marked(
        self, name: str, words: dict[str, str], label: bool, clip: dict[str, float] | None = None
    ) -> tuple[dict[str, bytes], marks.Marked]:
        """Picture `name` with its numbered marks (and a test model's label), and its crop for phones."""
        area = (
            (clip["x"], clip["y"], clip["width"], clip["height"])
            if clip
            else (0.0, 0.0, float(VIEWPORT["width"]), float(VIEWPORT["height"]))
        )
        found = marks.draw(self.page, name, area, words, label)
        try:
            self.page.wait_for_timeout(100)
            pictures = {name: self.shot(clip), marks.crop_name(name): _optimised_png(marks.crop(self.page, found))}
        finally:
            marks.clear(self.page)
        return pictures, found

    def actionbar_clip(self) -> dict[str, float]:
        """The Run button's corner with some of the window around it, so a reader can find it."""
        box = self.page.locator(UI["actionbar"]).bounding_box()
        left = max(0.0, box["x"] - 280)
        bottom = min(VIEWPORT["height"], box["y"] + box["height"] + 90)
        return {"x": left, "y": 0.0, "width": VIEWPORT["width"] - left, "height": bottom}


@contextmanager
def _page(server: ComfyServer, chromium: Path, hosts: set[str], blocked: list[str]) -> Iterator[Any]:
    """A logged-in ComfyUI page; requests to any host but 127.0.0.1 are recorded and refused."""

    def route(request_route: Any) -> None:
        url = request_route.request.url
        host = urlsplit(url).hostname
        if url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            hosts.add(host or "inline")
            request_route.continue_()
        else:
            hosts.add(host or url)
            blocked.append(url)
            request_route.abort()

    with _playwright().sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=marks.CROP_SCALE, color_scheme="dark")
            context.route("**/*", route)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{server.url}{LOGIN}")
            page.fill("#token", server.token or "")
            page.click("button[type=submit]")
            page.wait_for_function(
                "window.app && window.app.graph && window.app.extensionManager"
                " && window.app.extensionManager.workflow.activeWorkflow",
                timeout=120_000,
            )
            yield page
        finally:
            browser.close()


def _inputs(server: ComfyServer, modules: list[Module]) -> None:
    """The lessons' own files in the input folder, as after the student uploads them: Load Image shows them."""
    folder = server.workdir / "input"
    folder.mkdir(parents=True, exist_ok=True)
    for module in modules:
        if (module.folder / "inputs").is_dir():
            for path in sorted((module.folder / "inputs").iterdir()):
                shutil.copy2(path, folder / path.name)


Captured = tuple[dict[str, bytes], dict[str, int], dict[str, Any], dict[str, marks.Marked]]


def _capture(
    ui: Browser,
    server: ComfyServer,
    modules: list[Module],
    tour: Module,
    quick: bool,
    run_timeout: float,
    doing: Callable[[str], None],
    test_models: bool,
) -> Captured:
    """(pictures, nodes on the canvas per lesson, the frontend's labels, the marked pictures): the whole walk."""
    page = ui.page
    pictures: dict[str, bytes] = {}
    nodes: dict[str, int] = {}
    labels: dict[str, Any] = {}
    marked: dict[str, marks.Marked] = {}
    words = {"lesson": tour.title, "saved": SAVED}

    def take_marked(browser: Browser, name: str, clip: dict[str, float] | None = None) -> None:
        taken, marked[name] = browser.marked(name, words, test_models, clip)
        pictures.update(taken)

    page.wait_for_function("window.app.graph._nodes.length > 0")  # ComfyUI's example: what a student sees first
    doing("the Workflows panel")
    ui.panel(True)
    page.locator(UI["browse"]).get_by_role("treeitem").first.wait_for()
    ui.settle()
    take_marked(ui, "tour-workflows.png")
    labels |= {k: v for k, v in ui.labels().items() if v}
    doing("the whole window")
    nodes[tour.slug] = ui.open(tour)
    ui.fit()
    take_marked(ui, "tour-canvas.png")
    labels |= {k: v for k, v in ui.labels().items() if v}
    take_marked(ui, "tour-run.png", ui.actionbar_clip())
    ui.set(MODULE_VIEW)  # from here on: no small map over the picture
    # The panel's refresh unloads every workflow it lists, the open one too, and frontend 1.27.10
    # then cannot open another (beforeLoadNewGraph meets a null changeTracker): close it first.
    ui.command("Workspace.CloseWorkflow")
    for module in modules:
        if module is not tour:
            server.offer_workflow(module)
    ui.refresh()
    for module in modules:
        doing(f"the lesson {module.slug}")
        nodes[module.slug] = ui.open(module)
        ui.fit()
        pictures[f"{module.slug}.png"] = ui.shot()
        ui.command("Workspace.CloseWorkflow")
    doing("the first image (minutes on a CPU)")
    ui.open(tour)
    if quick:
        page.evaluate(
            "(q) => { for (const n of window.app.graph._nodes) for (const w of n.widgets || [])"
            " if (w.name in q) w.value = q[w.name]; }",
            QUICK,
        )
    save = next(n["id"] for n in tour.nodes() if n.get("type") == "SaveImage")
    page.locator(UI["run"]).click()
    page.wait_for_function(
        "(id) => { const imgs = window.app.graph.getNodeById(id).imgs || [];"
        " return imgs.length > 0 && imgs[0].complete && imgs[0].naturalWidth > 0; }",
        arg=save,
        timeout=run_timeout * 1000,
        polling=1000,
    )
    ui.fit()
    take_marked(ui, "first-image-done.png")
    doing("a new session's Workflows panel")
    _next_session(server, modules, tour)
    later = Browser(page.context.new_page())  # a fresh page, as a later session opens (the cookie is the same)
    later.page.goto(server.url)
    later.page.wait_for_function("window.app && window.app.graph && window.app.extensionManager", timeout=120_000)
    later.panel(True)
    later.page.locator(UI["browse"]).get_by_role("treeitem", name=SAVED, exact=True).wait_for()
    later.settle()
    take_marked(later, "saved-next-session.png")
    later.page.close()
    return pictures, nodes, labels, marked


def _next_session(server: ComfyServer, modules: list[Module], tour: Module) -> None:
    """The Workflows panel as a later session shows it: the lesson, and what the student saved before."""
    for module in modules:
        if module is not tour:
            (server.user_folder / WORKFLOWS / module.file_name).unlink(missing_ok=True)
    workflow = json.loads(panel_copy(tour))
    (server.user_folder / WORKFLOWS / SAVED).write_text(json.dumps(workflow), encoding="utf-8")


def take(
    out: Path,
    modules: list[Module],
    node_list: NodeList,
    comfyui: ComfyServer,
    models: Path | None = None,
    quick: bool = False,
    chromium: Path = CHROMIUM,
    run_timeout: float = 3600.0,
    progress: Callable[[str], None] = lambda _: None,
) -> Result:
    """Every lesson's screenshot and the Start here pictures into `out`, with the manifest.

    `comfyui` is the ComfyUI to start, as the command line makes every one (not yet started).
    Without `models`, random-weight test models are made (and cached) for the lessons that have
    them. `quick` makes the first image at QUICK's size and steps instead of the lesson's own,
    and the picture shows it. On failure, its workdir keeps ComfyUI's log and a picture of the page.
    """
    sync_api = _playwright()
    if not chromium.is_file():
        raise AtelierError("screenshots-no-browser", what=f"Chromium at {chromium} (apt-get install chromium)")
    tour = next((m for m in modules if m.slug == TOUR), None)
    if tour is None:
        raise AtelierError(
            "screenshots-failed",
            step="finding the lessons",
            reason=f"there is no module {TOUR}",
            picture="(none)",
            log="(none)",
        )
    progress("Making the test models" if models is None else "Using the model store")
    store = models or test_store(modules, comfyui.checkout, comfyui.python)
    server = replace(comfyui, models=store)
    server.offer_workflow(tour)  # as `atelier serve --module txt2img-basics`: the panel lists one lesson
    _write_settings(server)
    _inputs(server, modules)
    hosts: set[str] = set()
    blocked: list[str] = []
    step = ["starting ComfyUI"]
    failure = server.workdir / "failure.png"

    def doing(name: str) -> None:
        step[0] = name
        progress(f"Taking {name}" if name.startswith("the ") else name[0].upper() + name[1:])

    try:
        doing("starting ComfyUI")
        server.start()
        comfyui = str(server.client().get_json("/system_stats").get("system", {}).get("comfyui_version"))
        doing("opening ComfyUI in Chromium")
        with _page(server, chromium, hosts, blocked) as page:
            frontend = str(page.evaluate("window.__COMFYUI_FRONTEND_VERSION__ || 'unknown'"))
            try:
                pictures, nodes, labels, marked = _capture(
                    Browser(page), server, modules, tour, quick, run_timeout, doing, test_models=models is None
                )
                doing("the dashboard's Box backup app")
                pictures |= screenshots_box.take(page.context.new_page, server.workdir / "box-app")
            except (sync_api.Error, marks.MarkMissing):
                with suppress(sync_api.Error):
                    page.screenshot(path=str(failure))
                raise
    except (sync_api.Error, marks.MarkMissing) as err:
        reason = (str(err).strip().splitlines() or ["no reason given"])[0][:300].rstrip(".")
        raise AtelierError(
            "screenshots-failed",
            step=step[0],
            reason=reason,
            picture=failure if failure.is_file() else "(none)",
            log=server.log,
        ) from None
    finally:
        server.stop()
    if blocked:
        raise AtelierError("screenshots-external", url=blocked[0], count=len(blocked))
    alts = tour_alt(tour.title, labels, test_models=models is None, quick=quick) | screenshots_box.alts("Box")
    alts |= {f"{m.slug}.png": module_alt(m, node_list) for m in modules}
    for name, found in marked.items():
        alts[name] += f" Numbered marks: {marks.words_for(found)}."
        if found.label:
            alts[name] += f" Written over the picture, white on black: '{marks.TEST_LABEL}'."
        alts[marks.crop_name(name)] = marks.crop_alt(found, test_label=models is None)
    shots = [Shot(name, alts[name], nodes.get(name.removesuffix(".png"))) for name in pictures]
    result = Result(out, shots, comfyui=comfyui, frontend=frontend, labels=labels, hosts=hosts, marked=marked)
    write(result, pictures, test_models=models is None, quick=quick)
    return result


# The manifest's sections this command writes; any other is another tool's and is kept as it was.
OWN = ("comfyui", "frontend", "made", "viewport", "models", "first_image", "labels", "screenshots", "marks")


def write(result: Result, pictures: dict[str, bytes], test_models: bool, quick: bool) -> None:
    """The pictures and the manifest; pictures a previous run made and this one did not are removed."""
    result.folder.mkdir(parents=True, exist_ok=True)
    for stale in set(screenshot_alts(result.folder)) - set(pictures):
        (result.folder / stale).unlink(missing_ok=True)
    for name, data in pictures.items():
        (result.folder / name).write_bytes(data)
    manifest = {
        "comfyui": result.comfyui,
        "frontend": result.frontend,
        "made": time.strftime("%Y-%m-%d"),
        "viewport": f"{VIEWPORT['width']}x{VIEWPORT['height']}",
        "models": "random-weight test models (atelier testmodels)" if test_models else "the model store given",
        "first_image": f"{QUICK} (--quick)" if quick else "the lesson's own settings",
        "labels": result.labels,
        "screenshots": {shot.file: shot.alt for shot in result.shots},
        # Per marked picture: each number, the label of the element it is on and its rectangle in the picture's
        # pixels; the crop's pieces; the test model's label, where the picture shows a test model's output.
        "marks": {name: marks.record(found) for name, found in result.marked.items()},
    }
    if result.manifest.is_file():  # sections other tools write into the same manifest (e.g. `ood:`) stay
        before = yaml.safe_load(result.manifest.read_text(encoding="utf-8")) or {}
        manifest |= {key: value for key, value in before.items() if key not in manifest and key not in OWN}
    header = "# Made by `atelier screenshots`: regenerate, never edit by hand. File -> alt text.\n"
    text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=1000)
    result.manifest.write_text(header + text, encoding="utf-8")
