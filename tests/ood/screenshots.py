"""Pictures of the dashboard's launch form and session card, for Start here → Start ComfyUI.

Drawn from Open OnDemand's own page templates and stylesheet: `dashboard.rb form_page`
and `card` render the dashboard's `_form` and `_panel` partials (with our app's form and
view.html.erb) from the `OOD_DIR` checkout, for a real session on a one-node Slurm in
each state (Queued, Running, Completed), and the stylesheet is the dashboard's own
application.scss compiled by Dart Sass with the Bootstrap and Font Awesome versions of
its package.json. Chromium opens the pages from local files only and takes the pictures.

To remake them (as root, about 2 minutes; the tier `ood` test runs the same):

    OOD_DIR=... OOD_CORE_DIR=... COMFYUI_DIR=... COMFYUI_PYTHON=... OOD_ASSETS_DIR=... \\
        .venv/bin/python -m tests.ood.screenshots docs/assets/screenshots

`OOD_ASSETS_DIR` holds node_modules with the stylesheet's packages, made once with
`npm install bootstrap@5.3.8 sass@1.78.0 @fortawesome/fontawesome-free@5.15.4 @uppy/core@4
@uppy/dashboard@4 datatables.net-bs5@2` in a folder outside this repository.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.ood.conftest import ROOT, Site, make_site, values
from tests.slurm.conftest import SlurmCluster, local_cluster

MANIFEST = "screenshots.yml"
KEY = "ood"  # this maker's top-level key in the manifest; `atelier screenshots` owns the rest
WIDE, NARROW = 1280, 390
STYLESHEET_PACKAGES = (
    "bootstrap/scss/bootstrap.scss",
    "@fortawesome/fontawesome-free/scss/fontawesome.scss",
    "@uppy/core/dist/style.css",
    "@uppy/dashboard/dist/style.css",
    "datatables.net-bs5/css/dataTables.bootstrap5.css",
    "sass/sass.dart.js",
)
NOTE = (
    "Drawn from Open OnDemand's own page templates and stylesheet for Atelier's ComfyUI app "
    "(tests/ood/screenshots.py); your university's dashboard may differ in colours and menus."
)
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="css/application.css"></head>
<body><div class="container-fluid p-3" style="max-width: 1100px">
<p class="text-muted small border-bottom pb-2" id="atelier-note">{note}</p>
{body}</div></body></html>"""
ALT = {
    "ood-launch-form.png": "The dashboard's ComfyUI launch form: {fields}, each with its help text, and a blue Launch "
    "button at the bottom. " + NOTE,
    "ood-session-queued.png": "A session card under My Interactive Sessions saying Queued, with a red Delete button "
    "and the dashboard's note that the job is waiting in the queue. " + NOTE,
    "ood-session-running.png": "A session card under My Interactive Sessions saying Running, with the node's name, "
    "the time left, a red Delete button and a blue Open ComfyUI button. " + NOTE,
    "ood-session-completed.png": "A session card under My Interactive Sessions saying Completed, with where the "
    "session's outputs were kept and a red Delete button. " + NOTE,
}


def skip_reason() -> str | None:
    """Why the stylesheet cannot be built here (no OOD_ASSETS_DIR with its packages), or None."""
    assets = os.environ.get("OOD_ASSETS_DIR")
    if not assets:
        return "OOD_ASSETS_DIR is not set: see tests/ood/screenshots.py for the npm install it needs"
    missing = [p for p in STYLESHEET_PACKAGES if not (Path(assets) / "node_modules" / p).is_file()]
    if missing or not shutil.which("node"):
        return f"OOD_ASSETS_DIR lacks {', '.join(missing) or 'node'}: see tests/ood/screenshots.py"
    return None


def build_stylesheet(folder: Path) -> Path:
    """The dashboard's application.scss compiled as its package.json's build:css does, with its fonts.

    Font Awesome's fonts are copied where the stylesheet looks for them (../builds).
    """
    dashboard = Path(os.environ["OOD_DIR"]) / "apps" / "dashboard"
    modules = Path(os.environ["OOD_ASSETS_DIR"]) / "node_modules"
    css = folder / "css" / "application.css"
    css.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "node",
            str(modules / "sass" / "sass.js"),
            "--quiet",
            f"--load-path={modules}",
            str(dashboard / "app" / "assets" / "stylesheets" / "application.scss"),
            str(css),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.copytree(modules / "@fortawesome" / "fontawesome-free" / "webfonts", folder / "builds", dirs_exist_ok=True)
    return css


def _site(folder: Path, slurm: SlurmCluster) -> Site:
    """The app deployed for this machine's cluster, with ComfyUI, so a session really runs."""
    from atelier.hpc.profiles import load_profile

    own = dataclasses.replace(load_profile("local"), user_folder=str(folder / "home" / "atelier-comfyui"))
    return make_site(folder, slurm, [own], comfyui=True)


def _card(site: Site, session_id: str) -> dict[str, Any]:
    from tests.ood import dashboard

    return dashboard.run(
        "card", {"app": str(site.app), "session_id": session_id}, dashboard._env(site.clusters, site.dataroot, site.env)
    )


STUDENT_OUTPUTS = "$HOME/atelier-outputs"  # the form's own starting value (profile `outputs`)


def render(folder: Path, slurm: SlurmCluster) -> dict[str, dict[str, Any]]:
    """The form page and the card in each state, as OOD's templates render them: name -> driver JSON.

    Queued is real: the node is drained while the session is submitted, then resumed.
    """
    from tests.ood import dashboard

    site = _site(folder, slurm)
    home_outputs = Path.home() / "atelier-outputs"  # the jobs run as this account, with its HOME
    made_before = home_outputs.exists()
    pages: dict[str, dict[str, Any]] = {}
    pages["ood-launch-form"] = dashboard.run(
        "form_page", {"app": str(site.app)}, dashboard._env(site.clusters, None, site.env)
    )
    slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=DRAIN", "Reason=pictures of a queued card")
    try:
        # The folder the form starts at, as a student leaves it: the card shows what they typed.
        launched = site.submit({**values(folder / "outputs"), "output_folder": STUDENT_OUTPUTS})
        slurm.wait_for(launched["job_id"], "PENDING")
        pages["ood-session-queued"] = _card(site, launched["session_id"])
    finally:
        slurm.run("scontrol", "update", f"NodeName={slurm.node}", "State=RESUME")
    deadline = time.monotonic() + 240
    while True:
        card = _card(site, launched["session_id"])
        if card["card_status"] == "Running":
            break
        assert card["card_status"] in {"Queued", "Starting"}, card["card_status"]
        assert time.monotonic() < deadline, "the session did not start"
        time.sleep(2)
    pages["ood-session-running"] = card
    slurm.run("scancel", launched["job_id"])
    slurm.wait_for(launched["job_id"], {"CANCELLED", "COMPLETED"}, timeout=90)
    deadline = time.monotonic() + 60
    while (card := _card(site, launched["session_id"]))["card_status"] != "Completed":
        assert time.monotonic() < deadline, "the card never said Completed"
        time.sleep(2)
    pages["ood-session-completed"] = card
    if not made_before:  # the session made the test account's folder: leave its home as it was
        shutil.rmtree(home_outputs, ignore_errors=True)
    return pages


def page_html(name: str, data: dict[str, Any]) -> str:
    """A page around the rendered partial: the form's column as new.html.erb lays it out, or the card
    under the My Interactive Sessions heading."""
    if name == "ood-launch-form":
        body = (
            f'<div class="row"><div class="col-md-8"><h3>{data["title"]}</h3>'
            f'<div class="ood-appkit markdown">{data["description_html"]}{data["form_html"]}</div></div></div>'
        )
        return PAGE.format(title=data["title"], note=NOTE, body=body)
    body = (
        f'<h1 class="h3 mb-3">{data["heading"]}</h1><div class="row"><div class="col-md-10">{data["html"]}</div></div>'
    )
    return PAGE.format(title=data["heading"], note=NOTE, body=body)


def shoot(folder: Path, pages: dict[str, str], out: Path) -> list[str]:
    """Open each page in Chromium from local files only and write the wide picture and the narrow crop.

    Returns every URL the pages asked for (all must be file: URLs of `folder`). Playwright's sync
    API refuses a thread where an event loop runs (pytest-playwright's, in a test session), so the
    browser is driven from a thread of its own.
    """
    result: list[list[str]] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            result.append(_shoot(folder, pages, out))
        except BaseException as error:  # handed to the caller's thread below
            failed.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    if failed:
        raise failed[0]
    return result[0]


def _shoot(folder: Path, pages: dict[str, str], out: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            for name, html in pages.items():
                (folder / f"{name}.html").write_text(html, encoding="utf-8")
                for width, suffix in ((WIDE, ""), (NARROW, "-390")):
                    page = browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
                    page.on("request", lambda r: requested.append(r.url))
                    page.route(
                        "**/*",
                        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
                    )
                    page.goto((folder / f"{name}.html").as_uri())
                    page.evaluate("document.fonts.ready")
                    target = (
                        page.locator("body")
                        if not suffix
                        else page.locator(
                            "form#new_batch_connect_session_context" if name == "ood-launch-form" else ".session-panel"
                        )
                    )
                    target.screenshot(path=str(out / f"{name}{suffix}.png"))
                    page.close()
        finally:
            browser.close()
    return requested


def write_manifest(out: Path, pages: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Our alt text under the manifest's `ood` key, leaving what `atelier screenshots` wrote alone."""
    path = out / MANIFEST
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    data = yaml.safe_load(text) or {}
    labels = [
        line.split('">', 1)[1].split("<", 1)[0] for line in pages["ood-launch-form"]["form_html"].split("<label ")[1:]
    ]
    alts = {}
    for name, alt in ALT.items():
        alts[name] = alt.format(fields=", ".join(labels))
        alts[name.replace(".png", "-390.png")] = "The same, on a phone-sized screen. " + alts[name]
    data[KEY] = {
        "made_by": "python -m tests.ood.screenshots (tier ood: tests/ood/test_screenshots.py)",
        "ondemand": _ood_version(),
        "screenshots": alts,
    }
    head = [line for line in text.splitlines(keepends=True) if line.startswith("#")][:1]
    path.write_text(
        "".join(head) + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8"
    )
    return alts


def _ood_version() -> str:
    version = Path(os.environ["OOD_DIR"]) / "apps" / "dashboard" / "VERSION"
    changelog = Path(os.environ["OOD_DIR"]) / "CHANGELOG.md"
    if version.is_file():
        return version.read_text().strip()
    for line in changelog.read_text().splitlines() if changelog.is_file() else []:
        if line.startswith("## [") and "Unreleased" not in line:
            return line.split("[", 1)[1].split("]", 1)[0]
    return "unknown"


def make(out: Path, slurm: SlurmCluster, work: Path) -> dict[str, Any]:
    """Render, shoot and record: returns the driver's pages, the URLs asked for and the alt text."""
    out.mkdir(parents=True, exist_ok=True)
    build_stylesheet(work / "pages")
    rendered = render(work / "site", slurm)
    requested = shoot(work / "pages", {n: page_html(n, d) for n, d in rendered.items()}, out)
    alts = write_manifest(out, rendered)
    return {"pages": rendered, "requested": requested, "alts": alts}


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else ROOT / "docs" / "assets" / "screenshots").resolve()
    reason = skip_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="atelier-ood-shots-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        with local_cluster(work / "slurm", fail=lambda text: sys.exit(text)) as slurm:
            made = make(out, slurm, work)
    print("\n".join(sorted(made["alts"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
