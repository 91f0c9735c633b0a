"""Every kind of lesson seen through Open OnDemand's proxy: picture, video, sound and 3D.

A student opens the video, sound and 3D lessons as they open the first one: from the
card's Open ComfyUI button, through mod_ood_proxy's /rnode/<node>/<port>/ prefix. There
ComfyUI's frontend builds other URLs (the video and audio players, the 3D viewer's model
request), which must keep that prefix (ComfyUI issue #14455 reports some that do not; the
tab's progress icon was one here, which the gate's prefix.js now keeps under it).
For one lesson of each `modality`, the lesson is loaded into the canvas and run with the
lesson check's CPU smoke settings on random-weight models, and the result must show and
load through the proxy, with no request going anywhere else.

As a student does, one ComfyUI tab is opened once and each lesson is loaded into it after
the last: the tests of this module share that tab, in MODALITIES' order, and each also
checks every request the tab has made since it opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page

from atelier.comfy.headless import load_job, smoke_settings
from atelier.comfy.testmodels import default_store, generate, module_models
from atelier.lessons.modules import all_modules, load_module, ordered
from atelier.lessons.nodes import NODE_LIST_PATH, load_node_list
from atelier.site.pages.lessons import _outputs
from tests.comfyui_env import comfyui_from_env
from tests.ood import portal as ood_portal
from tests.ood.conftest import ROOT, SlurmCluster, make_site, needs_comfyui, needs_ood, values
from tests.ood.test_student_path import _open_from_the_card, _profile, _running
from tests.slurm.conftest import _cancel_all
from tests.walkthrough import wait_for_comfyui

pytestmark = [
    needs_ood,
    needs_comfyui,
    pytest.mark.skipif(ood_portal.skip_reason() is not None, reason=ood_portal.skip_reason() or ""),
]
MODALITIES = ("image", "video", "audio", "3d")
# What each modality's result is in ComfyUI's page, and the word the lesson page uses for it.
ELEMENT = {"image": "img", "video": "video", "audio": "audio", "3d": "canvas"}
SEEN_AS = {"image": "image", "video": "video", "audio": "sound file", "3d": "3D model"}


def first_lesson(modality: str) -> Path:
    """The first lesson of `modality` in the lesson list's order (module.yaml's `modality`)."""
    found = [m for m in ordered(all_modules(ROOT / "workflows")) if m.about.modality == modality]
    assert found, f"no lesson has modality {modality}"
    return found[0].folder


@pytest.fixture(scope="module")
def session(slurm: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One session launched through OOD's dashboard code, with the four lessons' test models, behind OOD's proxy."""
    folder = tmp_path_factory.mktemp("modalities")
    checkout, python = comfyui_from_env()
    names = sorted({n for mod in MODALITIES for n, _ in module_models(load_module(first_lesson(mod)))})
    store = default_store("tiny")
    assert generate(names, store, "tiny", checkout, python) == {}
    node = ood_portal.add_loopback_address()
    site = make_site(folder, slurm, [_profile(folder / "profile", store)], comfyui=True, set_host=f"host={node}")
    launched = site.submit(values(folder / "outputs", lesson=""))
    card = _running(site, slurm, launched)
    with ood_portal.Portal(
        host_regex=ood_portal.HOST_REGEX, custom_vhost_directives=["AllowEncodedSlashes NoDecode"]
    ) as proxy:
        yield {"proxy": proxy, "card": card, "host": card["connect"]["host"], "port": int(card["connect"]["port"])}
    slurm.run("scancel", launched["job_id"])


@pytest.fixture(scope="module", autouse=True)
def _empty_queue(slurm: SlurmCluster) -> Iterator[None]:
    """The slurm tier's clean-up, once for the module: its per-test one (tests/slurm/conftest.py)
    would cancel the student's session after the first lesson, and the proxy then answers 503."""
    yield
    _cancel_all(slurm.env)


@dataclass
class Tab:
    """The student's one ComfyUI tab, and every request it made and the status each answer had."""

    page: Page
    requests: list[str] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def tab(session: dict, browser: Browser) -> Iterator[Tab]:
    """ComfyUI opened once from the card's Open ComfyUI button, signed in to the dashboard
    (Basic auth stands in for single sign-on), watched from its first request."""
    context = browser.new_context(http_credentials={"username": "student", "password": ood_portal.USERS["student"]})
    requests: list[str] = []
    answers: dict[str, int] = {}
    context.on("request", lambda r: requests.append(r.url))
    context.on("response", lambda r: answers.__setitem__(r.url, r.status))
    page = _open_from_the_card(context, session["proxy"], session["card"], "modalities")
    wait_for_comfyui(page)
    yield Tab(page, requests, answers)
    context.close()


def _run_lesson(page: Page, lesson: Path, upload: str, proxy: ood_portal.Portal) -> None:
    """Load the lesson's workflow into the canvas and queue its smoke-sized prompt as this page's client,
    so ComfyUI's frontend shows the result on the lesson's own output node."""
    module = load_module(lesson)
    job = smoke_settings(load_job(lesson, load_node_list(ROOT / NODE_LIST_PATH)))
    page.evaluate("w => window.app.loadGraphData(w)", json.loads(module.workflow_path.read_text()))
    for path in job.inputs:  # the lesson's own input pictures, uploaded through the proxy
        sent = page.request.post(
            upload,
            multipart={
                "image": {"name": path.name, "mimeType": "image/png", "buffer": path.read_bytes()},
                "overwrite": "true",
            },
        )
        assert sent.ok, (sent.status, sent.text(), proxy.error_log[-3000:])
    status, text = page.evaluate(
        "p => fetch('api/prompt', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({prompt: p, client_id: window.app.api.clientId})})"
        ".then(async r => [r.status, await r.text()])",
        job.prompt,
    )
    assert status == 200 and "prompt_id" in json.loads(text), (status, text, proxy.error_log[-3000:])


RESULT = {  # JS: the lesson's result in the page, loaded (true), or not yet (false)
    "image": "() => window.app.graph._nodes.some(n => (n.imgs || []).some(i => i.complete && i.naturalWidth > 0))",
    "video": "() => [...document.querySelectorAll('video')].some(v => v.src.includes('view?') && v.readyState >= 2)",
    "audio": "() => [...document.querySelectorAll('audio')].some(a => a.src.includes('view?') && a.readyState >= 2)",
    "3d": "() => [...document.querySelectorAll('canvas')].some(c => c.closest('.dom-widget, .comfy-load-3d, "
    "[class*=load3d]') && c.width > 0)",
}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("modality", MODALITIES)
def test_each_kind_of_lesson_shows_its_result_through_ood_s_proxy(session: dict, tab: Tab, modality: str) -> None:
    proxy, host, port, page = session["proxy"], session["host"], session["port"], tab.page
    lesson = first_lesson(modality)
    answers = tab.answers
    if modality == "3d":  # the viewer's canvas is there before the run: the model it loads is the result
        with page.expect_response(lambda r: "/view?" in r.url and ".glb" in r.url, timeout=600_000):
            _run_lesson(page, lesson, proxy.rnode(host, port, "/api/upload/image"), proxy)
    else:
        _run_lesson(page, lesson, proxy.rnode(host, port, "/api/upload/image"), proxy)
    page.wait_for_function(RESULT[modality], timeout=600_000, polling=1000)
    requests = list(tab.requests)

    # The result's own file came through the prefix and answered 200.
    prefix = proxy.rnode(host, port, "/")
    views = [u for u in answers if "/view?" in u]
    assert views and all(u.startswith(prefix) and answers[u] in (200, 206) for u in views), answers
    if modality == "3d":
        assert any(".glb" in u for u in views), views
    src = (
        page.evaluate(
            f"() => [...document.querySelectorAll('{ELEMENT[modality]}')].map(e => e.src || '')"
            ".filter(s => s.includes('view?'))"
        )
        if modality in ("video", "audio")
        else []
    )
    for url in src:
        assert url.startswith(prefix) and page.request.get(url).status == 200, url

    # Every request the page made went through the dashboard's address and the session's prefix.
    web = [u for u in requests if urlparse(u).scheme in ("http", "https", "ws", "wss")]
    assert all(urlparse(u).hostname == "127.0.0.1" for u in web), [u for u in web if "127.0.0.1" not in u]
    outside = [u for u in web if not (u.startswith(prefix) or urlparse(u).path.startswith(ood_portal.STATIC_URI))]
    assert not outside, f"requests outside {prefix}: {outside}"
    icons = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icons and all(u.startswith(prefix) for u in icons), icons  # the tab's progress icon, fetched or not

    # The lesson page's "Makes" (what the student will see) names what appeared.
    said = _outputs(load_module(lesson).about.outputs)
    assert SEEN_AS[modality] in said, said
