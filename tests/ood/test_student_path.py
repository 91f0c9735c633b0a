"""A student's path through Open OnDemand's own code and proxy, in Chromium.

The dashboard's classes launch the session on the local Slurm; the browser reaches it
only through Apache with the config ood-portal-generator writes and mod_ood_proxy's Lua,
at a node address that is not 127.0.0.1; the card's Open ComfyUI button is the one the
dashboard renders. Then Start here is followed to the first picture, the picture is
compared from ComfyUI's menu, a workflow is saved and opened again, and a second session
refuses the first one's cookie.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect

from atelier.comfy.extensions.atelier_gate import COOKIE
from atelier.comfy.server import LOGIN
from atelier.hpc.profiles import Profile, load_profile
from tests.ood import portal as ood_portal
from tests.ood.conftest import ROOT, Site, SlurmCluster, make_site, needs_comfyui, needs_ood, values
from tests.walkthrough import bold, make_a_picture, open_saved, open_the_lesson, steps, wait_for_comfyui

pytestmark = [
    needs_ood,
    needs_comfyui,
    pytest.mark.skipif(ood_portal.skip_reason() is not None, reason=ood_portal.skip_reason() or ""),
]
CARD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>My Interactive Sessions</title></head>
<body><main><h1>My Interactive Sessions</h1><div class="card"><h2>ComfyUI</h2>{info}{view}</div></main></body></html>"""


def _profile(folder: Path, store: Path) -> Profile:
    """The test machine's profile with the small random-weight models as its shared store, and
    the student's own ComfyUI folder in a home of the test's."""
    data = yaml.safe_load((ROOT / "scripts" / "atelier" / "clusters" / "local.yaml").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    user_folder = folder.parent / "home" / "atelier-comfyui"
    (folder / "local.yaml").write_text(yaml.safe_dump({**data, "models": str(store), "user_folder": str(user_folder)}))
    return load_profile(str(folder / "local.yaml"))


def _running(site: Site, slurm: SlurmCluster, launched: dict, timeout: float = 240) -> dict:
    """Wait as the card does: until the session is running and connection.yml is written."""
    deadline = time.monotonic() + timeout
    while True:
        card = site.session(launched["session_id"])
        if card["running"] and card["connect"]:
            return card
        state = slurm.job_state(launched["job_id"])
        log = Path(launched["staged_root"]) / "output.log"
        assert state in {"PENDING", "RUNNING"}, log.read_text() if log.exists() else state
        assert time.monotonic() < deadline, "the session did not start"
        time.sleep(2)


def _open_from_the_card(context: BrowserContext, proxy: ood_portal.Portal, card: dict, name: str) -> Page:
    """The dashboard's page with the card's rendered HTML, same origin; press Open ComfyUI."""
    url = proxy.static(f"dashboard/{name}.html", CARD.format(info=card["info_html"], view=card["view_html"]))
    dashboard = context.new_page()
    dashboard.goto(url)
    with context.expect_page() as opened:
        dashboard.get_by_role("button", name="Open ComfyUI").click()
    page = opened.value
    page.set_viewport_size({"width": 1280, "height": 800})
    return page


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """A student signed in to the dashboard (Basic auth stands in for single sign-on)."""
    context = browser.new_context(http_credentials={"username": "student", "password": ood_portal.USERS["student"]})
    yield context
    context.close()


@pytest.mark.timeout(1500)
def test_a_student_makes_a_first_picture_through_ood_s_proxy(
    slurm: SlurmCluster, tmp_path: Path, tiny_store: Path, browser_context: BrowserContext
) -> None:
    node = ood_portal.add_loopback_address()
    site = make_site(
        tmp_path, slurm, [_profile(tmp_path / "profile", tiny_store)], comfyui=True, set_host=f"host={node}"
    )
    outputs = tmp_path / "atelier-outputs"
    launched = site.submit(values(outputs))
    card = _running(site, slurm, launched)
    host, port = card["connect"]["host"], int(card["connect"]["port"])
    assert host == node and f'action="/rnode/{host}/{port}{LOGIN}"' in card["view_html"]
    hosts: set[str] = set()
    browser_context.on(
        "request",
        lambda r: (
            hosts.add(urlparse(r.url).hostname or r.url) if urlparse(r.url).scheme not in ("blob", "data") else None
        ),
    )

    with ood_portal.Portal(
        host_regex=ood_portal.HOST_REGEX, custom_vhost_directives=["AllowEncodedSlashes NoDecode"]
    ) as proxy:
        # Start ComfyUI → Open ComfyUI: "ComfyUI opens in a new browser tab".
        launch = steps("launch.md", "Wait for it to start")
        assert bold(launch[2]) == ["Running", "Open ComfyUI"]
        page = _open_from_the_card(browser_context, proxy, card, "sessions")
        assert page.url == proxy.rnode(host, port, "/")
        wait_for_comfyui(page)
        open_the_lesson(page)
        make_a_picture(page, outputs)

        # Compare your variations, through the same proxy: the Compare page from ComfyUI's menu.
        make = steps("compare.md", "Make a comparison")
        logo_label, entry = bold(make[0])
        _, how_many, newest = bold(make[1])
        ready, open_sheet = bold(make[2])
        page.get_by_alt_text(logo_label, exact=False).click()
        with browser_context.expect_page() as opened:
            page.get_by_role("menuitem", name=entry).click()
        compare = opened.value
        compare.wait_for_load_state()
        assert compare.url == proxy.rnode(host, port, "/atelier/compare")
        compare.get_by_label(how_many).fill("1")
        compare.get_by_role("button", name=newest).click()
        expect(compare.get_by_role("heading", name=ready)).to_be_visible(timeout=120_000)
        assert compare.url.startswith(proxy.rnode(host, port, "/atelier/compare/made/"))
        compare.get_by_role("link", name=open_sheet).click()
        compare.wait_for_load_state()
        compare.wait_for_function("[...document.images].every(i => i.complete)")
        assert compare.evaluate("[...document.images].map(i => i.naturalWidth > 0)") == [True]
        assert list((outputs / "comparisons").glob("*/contact-sheet.html"))
        compare.close()

        # Save and download → Save your workflow, as the page says: the logo, File, Save. Saving and
        # opening both ask for userdata/workflows%2F<name>.json, which only AllowEncodedSlashes lets through.
        # The save reaches the student's own ComfyUI folder, which outlives the session.
        saved = tmp_path / "home" / "atelier-comfyui" / "user" / "default" / "workflows" / "Your first image.json"
        prompt_box = page.evaluate_handle(  # the Positive prompt's text box, found by what it holds
            "() => [...document.querySelectorAll('textarea')].find(t => t.value.startsWith('a still life of lemons'))"
        )
        prompt_box.as_element().fill("a blue teapot, saved through the proxy")
        save = (ROOT / "docs" / "start" / "save.md").read_text().split("## Save your workflow", 1)[1].split("\n## ")[0]
        logo, file_menu, save_item = bold(" ".join(save.split()))[:3]
        assert (logo, file_menu, save_item) == ("ComfyUI logo", "File", "Save")
        page.locator(".comfyui-logo").click()
        page.get_by_role("menuitem", name=file_menu).hover()
        page.get_by_role("menuitem", name=save_item, exact=True).click()
        deadline = time.monotonic() + 30
        while not saved.is_file() or "saved through the proxy" not in saved.read_text():  # kept within seconds
            assert time.monotonic() < deadline, "the saved workflow did not reach the student's ComfyUI folder"
            time.sleep(0.5)
        page.reload()
        wait_for_comfyui(page)
        open_the_lesson(page)
        prompt = page.evaluate(
            "() => window.app.graph._nodes.find(n => n.title === 'Positive prompt').widgets[0].value"
        )
        assert prompt == "a blue teapot, saved through the proxy"
        assert hosts == {"127.0.0.1"}, f"the browser asked other hosts: {hosts - {'127.0.0.1'}}"
        first_cookie = next(c for c in browser_context.cookies() if c["name"] == COOKIE)
        assert first_cookie["path"].startswith(f"/rnode/{host}/{port}") and first_cookie["httpOnly"]

        # Delete on the card: the job ends, ComfyUI stops cleanly, the finished picture is whole.
        slurm.run("scancel", launched["job_id"])
        slurm.wait_for(launched["job_id"], {"CANCELLED", "COMPLETED"}, timeout=90)
        picture = outputs / "atelier" / "txt2img_00001_.png"
        assert picture.read_bytes().endswith(b"IEND\xaeB`\x82")
        log = Path(launched["staged_root"]) / "output.log"
        deadline = time.monotonic() + 60  # Slurm calls the job cancelled at once; serve writes its last lines after
        while "ComfyUI stopped." not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "ComfyUI stopped." in log.read_text()

        # A second session: the first one's cookie opens nothing there.
        second = site.submit(values(outputs, lesson=""))
        other = _running(site, slurm, second)
        other_port = int(other["connect"]["port"])
        assert other_port != port or other["connect"]["password"] != card["connect"]["password"]
        refused = browser_context.request.get(
            proxy.rnode(host, other_port, "/"), headers={"Cookie": f"{COOKIE}={first_cookie['value']}"}
        )
        assert (refused.status, refused.text()) == (403, "Forbidden")

        # ... and what the first session saved is in its Workflows panel, with the change made then.
        page = _open_from_the_card(browser_context, proxy, other, "second-session")
        wait_for_comfyui(page)
        open_saved(page, "Your first image.json")
        prompt = page.evaluate(
            "() => window.app.graph._nodes.find(n => n.title === 'Positive prompt').widgets[0].value"
        )
        assert prompt == "a blue teapot, saved through the proxy"
        slurm.run("scancel", second["job_id"])
        done = site.session(launched["session_id"])
        assert done["completed"] and str(outputs) in done["completed_view"]


@pytest.mark.timeout(600)
def test_the_page_loads_where_the_node_s_name_is_a_loopback_address(
    slurm: SlurmCluster, tmp_path: Path, browser_context: BrowserContext
) -> None:
    """OOD's default host=$(hostname): here that name is 127.0.0.1, so ComfyUI's own Host/Origin check applies."""
    name = socket.gethostname()
    assert socket.gethostbyname(name).startswith("127.")
    own = dataclasses.replace(load_profile("local"), user_folder=str(tmp_path / "home" / "atelier-comfyui"))
    site = make_site(tmp_path, slurm, [own], comfyui=True)
    launched = site.submit(values(tmp_path / "outputs"))
    card = _running(site, slurm, launched)
    assert card["connect"]["host"] == name
    with ood_portal.Portal(
        host_regex=re.escape(name), custom_vhost_directives=["AllowEncodedSlashes NoDecode"]
    ) as proxy:
        page = _open_from_the_card(browser_context, proxy, card, "loopback")
        refused: list[str] = []
        page.on("response", lambda r: refused.append(r.url) if r.status == 403 else None)
        wait_for_comfyui(page)
        assert not refused, refused
        stats = json.loads(page.evaluate("() => fetch('api/system_stats').then(r => r.text())"))
        assert stats["system"]["comfyui_version"]
