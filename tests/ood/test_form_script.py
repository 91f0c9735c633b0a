"""The launch form's limits in the browser, enforced by Open OnDemand's own form script.

The form's options come from the dashboard's own classes and ActionView (tests/ood/
dashboard.rb); the script is the dashboard's dynamic_forms.js (with its utils and config
modules) from the OOD checkout, bundled as the dashboard bundles it (esbuild, ESM format,
from Debian) and loaded as the dashboard's page loads it (a classic script, beside
Debian's jQuery), in Debian's Chromium. A cluster whose sessions may last 4 hours must stop the student at
5 before Launch, as the other cluster's 24 must not.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page

from atelier.hpc.profiles import load_profile
from tests.ood import dashboard
from tests.ood.conftest import ROOT, SlurmCluster, make_site, needs_ood

JQUERY = Path("/usr/share/javascript/jquery/jquery.js")  # Debian's libjs-jquery
ESBUILD = shutil.which("esbuild")  # Debian's esbuild, the dashboard's bundler
pytestmark = [
    needs_ood,
    pytest.mark.skipif(
        not JQUERY.is_file() or not ESBUILD, reason="jQuery or esbuild not found: apt-get install libjs-jquery esbuild"
    ),
]
# Our entry point, doing what the dashboard's batch_connect_session_contexts.js does with the form.
ENTRY = """import { makeChangeHandlers } from './dynamic_forms';
jQuery(function () { makeChangeHandlers('batch_connect_session_context'); window.formReady = true; });
"""
PREFIX = "batch_connect_session_context"  # the dashboard's id prefix for form fields


def _field(attribute: dict) -> str:
    """One field as the dashboard's form puts it on the page: its id, its input or select."""
    name = f"{PREFIX}_{attribute['id']}"
    label = f'<label for="{name}">{escape(attribute["label"])}</label>'
    if attribute["widget"] == "select":
        return f'{label}<select id="{name}" name="{PREFIX}[{attribute["id"]}]">{attribute["options_html"]}</select>'
    options = attribute["field_options"]
    kind = "number" if attribute["widget"] == "number_field" else "text"
    limits = "".join(f' {k}="{options[k]}"' for k in ("min", "max", "step") if k in options)
    return (
        f'{label}<input type="{kind}" id="{name}" name="{PREFIX}[{attribute["id"]}]" '
        f'value="{escape(str(attribute["value"]))}"{limits}>'
    )


@pytest.fixture
def form_page(slurm: SlurmCluster, tmp_path: Path) -> Iterator[str]:
    """The launch form for two clusters, served on 127.0.0.1 with the dashboard's own script."""
    data = yaml.safe_load((ROOT / "scripts" / "atelier" / "clusters" / "local.yaml").read_text())
    (tmp_path / "studio.yaml").write_text(
        yaml.safe_dump({**data, "ood_cluster": "studio", "title": "Studio", "max_hours": 4})
    )
    site = make_site(tmp_path, slurm, [load_profile("local"), load_profile(str(tmp_path / "studio.yaml"))])
    dashboard.clusters_d(site.clusters, "studio", slurm.conf, 20000, 20999, title="Studio")
    form = site.form()
    public = tmp_path / "public"
    public.mkdir()
    scripts = Path(os.environ["OOD_DIR"]) / "apps" / "dashboard" / "app" / "javascript"
    source = tmp_path / "javascript"
    source.mkdir()
    for name in ("dynamic_forms.js", "utils.js", "config.js"):
        shutil.copy(scripts / name, source / name)  # read at test time from the checkout, never kept
    (source / "form_entry.js").write_text(ENTRY)
    built = subprocess.run(
        [ESBUILD, str(source / "form_entry.js"), "--bundle", "--format=esm", f"--outfile={public / 'form.js'}"],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    shutil.copy(JQUERY, public / "jquery.js")
    fields = "\n".join(f"<p>{_field(a)}</p>" for a in form["attributes"])
    (public / "form.html").write_text(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>ComfyUI</title><link rel="icon" href="data:,"></head><body>\
<div id="ood_config" data-bc-dynamic-js="true" data-base-analytics-path="/a"></div>
<form id="new_{PREFIX}">{fields}<button type="submit">Launch</button></form>
<script src="jquery.js"></script><script src="form.js"></script></body></html>""")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(public))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/form.html"
    server.shutdown()


def test_each_cluster_s_hour_limit_stops_the_form_before_launch(form_page: str, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(form_page)
    page.wait_for_function("window.formReady === true")
    assert not errors, errors
    hours = page.locator(f"#{PREFIX}_hours")
    page.select_option(f"#{PREFIX}_cluster", "studio")
    page.select_option(f"#{PREFIX}_gpu", "studio:cpu")
    assert hours.get_attribute("max") == "4"
    hours.fill("5")
    assert page.evaluate(f"document.querySelector('#{PREFIX}_hours').checkValidity()") is False
    hours.fill("4")
    assert page.evaluate(f"document.querySelector('#{PREFIX}_hours').checkValidity()") is True
    # The other cluster: its own GPUs, its own limit.
    page.select_option(f"#{PREFIX}_cluster", "local")
    page.select_option(f"#{PREFIX}_gpu", "local:cpu")
    assert hours.get_attribute("max") == "24"
    assert (
        page.locator(f"#{PREFIX}_gpu option[value='studio:cpu']").is_hidden()
        or page.evaluate(f"document.querySelector('#{PREFIX}_gpu option[value=\"studio:cpu\"]').style.display")
        == "none"
    )


def test_a_share_is_offered_only_for_the_lessons_that_fit_it(form_page: str, page: Page) -> None:
    """OOD's own script hides the quarter card (5 GB) while a lesson that needs more is chosen, and shows it again."""
    page.goto(form_page)
    page.wait_for_function("window.formReady === true")
    page.select_option(f"#{PREFIX}_cluster", "local")
    quarter = f"#{PREFIX}_gpu option[value='local:quarter']"

    def offered() -> bool:
        return page.evaluate(
            f'(() => {{ const o = document.querySelector("{quarter}"); return !o.disabled && '
            "o.style.display !== 'none'; })()"
        )

    page.select_option(f"#{PREFIX}_lesson", "txt2img-basics")  # 4 GB
    assert offered()
    page.select_option(f"#{PREFIX}_gpu", "local:quarter")
    page.select_option(f"#{PREFIX}_lesson", "sdxl-basics")  # 10 GB
    assert not offered()
    assert page.input_value(f"#{PREFIX}_gpu") != "local:quarter"  # the script let go of the hidden choice
    page.select_option(f"#{PREFIX}_lesson", "")
    assert offered()
