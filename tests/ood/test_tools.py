"""Each tool beside ComfyUI through Open OnDemand's own code and proxy, in Chromium.

Its app is deployed as `atelier ood deploy` makes it (from the ComfyUI app), the dashboard's
classes stage and submit the session to the local Slurm, and the student opens the tool
from the card's button through Apache with ood-portal-generator's config and mod_ood_proxy,
at a node address that is not 127.0.0.1. They make a picture and find it in their outputs
folder and in `atelier ledger`; a second session refuses the first one's cookie; the tool's
own port answers nobody from the node's address. The install is the tools tier's, made by
`atelier install --tool` from the package index; the models are random-weight test models.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext

from atelier.comfy.extensions.atelier_gate import COOKIE
from atelier.comfy.server import LOGIN
from atelier.hpc import ood
from atelier.hpc.install import env_text
from atelier.hpc.profiles import Profile, load_profile
from atelier.keep.ledger import LEDGER
from atelier.layout import Layout
from atelier.lessons.pin import load_pin
from atelier.tools.declaration import load_tool
from tests.ood import dashboard
from tests.ood import portal as ood_portal
from tests.ood.conftest import PORTS, ROOT, Site, SlurmCluster, needs_ood
from tests.ood.test_student_path import CARD, _running
from tests.tools.conftest import TOOLS, atelier
from tests.tools.pictures import invoke_picture, remove_background, sample_photo

pytestmark = [
    needs_ood,
    pytest.mark.skipif(ood_portal.skip_reason() is not None, reason=ood_portal.skip_reason() or ""),
]


def _prefix(folder: Path, tools_prefix: Path) -> Path:
    """An install prefix as `atelier install` leaves it, for what a job reads: atelier.env, atelier's own
    environment (this one) and the tools' environments (the tools tier's install)."""
    prefix = folder / "prefix"
    prefix.mkdir(parents=True)
    layout = Layout.of(prefix)
    layout.atelier_venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    for name in TOOLS:
        layout.tool_venv(name).symlink_to(Layout.of(tools_prefix).tool_venv(name), target_is_directory=True)
    layout.env_file.write_text(env_text(layout, load_pin(ROOT / "workflows" / "pin.yaml"), ROOT))
    return prefix


def _profile(folder: Path, prefix: Path, store: Path) -> Profile:
    data = yaml.safe_load((ROOT / "scripts" / "atelier" / "clusters" / "local.yaml").read_text())
    data.update(prefix=str(prefix), models=str(store), user_folder=str(folder / "home" / "atelier-comfyui"))
    (folder / "local.yaml").write_text(yaml.safe_dump(data))
    return load_profile(str(folder / "local.yaml"))


def _site(folder: Path, cluster: SlurmCluster, profile: Profile, tool: str, node: str) -> Site:
    """The tool's app, deployed as `atelier ood deploy` deploys it, on OOD's cluster `local`."""
    app, site_file = folder / "apps" / tool, folder / "config" / tool / "atelier.yml"
    ood.deploy_tool(app, site_file, load_tool(ROOT / "tools" / tool), [profile], app=ROOT / "ood" / "comfyui")
    clusters = dashboard.clusters_d(
        folder / "clusters.d", "local", cluster.conf, *PORTS, set_host=f"host={node}", title="This machine (tests)"
    )
    env = {k: v for k, v in cluster.env.items() if k not in ("COMFYUI_DIR", "COMFYUI_PYTHON")}
    return Site(app, site_file, clusters, folder / "dataroot", {**env, "ATELIER_OOD_SITE": str(site_file)})


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(http_credentials={"username": "student", "password": ood_portal.USERS["student"]})
    yield context
    context.close()


def _ledger(folder: Path) -> dict[str, sqlite3.Row]:
    done = atelier("ledger", "scan", str(folder))
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(folder / LEDGER) as db:
        db.row_factory = sqlite3.Row
        return {row["file"]: row for row in db.execute("SELECT * FROM outputs")}


@pytest.mark.timeout(1500)
@pytest.mark.parametrize("tool", TOOLS)
def test_a_student_makes_a_picture_with_each_tool_through_ood_s_proxy(
    tool: str,
    slurm: SlurmCluster,
    tmp_path: Path,
    tools_prefix: Path,
    tool_store: Path,
    browser_context: BrowserContext,
) -> None:
    declared = load_tool(ROOT / "tools" / tool)
    node = ood_portal.add_loopback_address()
    profile = _profile(tmp_path, _prefix(tmp_path, tools_prefix), tool_store)
    site = _site(tmp_path, slurm, profile, tool, node)
    form = site.form()
    assert form["valid"] and [field["id"] for field in form["attributes"]] == [
        "cluster",
        "gpu",
        "hours",
        "output_folder",
    ]
    outputs = tmp_path / "atelier-outputs"
    values = {"cluster": "local", "gpu": "local:cpu", "hours": "1", "output_folder": str(outputs)}
    launched = site.submit(values)
    card = _running(site, slurm, launched)
    host, port = card["connect"]["host"], int(card["connect"]["port"])
    assert host == node and f'action="/rnode/{host}/{port}{LOGIN}"' in card["view_html"]
    assert f"Open {declared.title}" in card["view_html"]
    hosts: set[str] = set()
    browser_context.on(
        "response",
        lambda r: hosts.add(urlparse(r.url).hostname or r.url) if urlparse(r.url).scheme in ("http", "https") else None,
    )

    with ood_portal.Portal(
        host_regex=ood_portal.HOST_REGEX, custom_vhost_directives=["AllowEncodedSlashes NoDecode"]
    ) as proxy:
        dashboard_page = browser_context.new_page()
        dashboard_page.goto(
            proxy.static("dashboard/sessions.html", CARD.format(info=card["info_html"], view=card["view_html"]))
        )
        with browser_context.expect_page() as opened:
            dashboard_page.get_by_role("button", name=f"Open {declared.title}").click()
        page = opened.value
        page.set_viewport_size({"width": 1280, "height": 800})
        page.wait_for_load_state("networkidle")
        assert page.url.startswith(proxy.rnode(host, port, "/"))  # InvokeAI moves itself to ./app

        if tool == "invokeai":
            name = invoke_picture(page, "a lighthouse at dusk")  # its Invoke button: its socket.io is up
            assert [made.name for made in (outputs / "invokeai" / "images").glob("*.png")] == [name]
            row = _ledger(outputs)[f"invokeai/images/{name}"]
            assert row["positive"] == "a lighthouse at dusk" and row["steps"] == 2
        else:
            remove_background(page, sample_photo(tmp_path / "disc.png"))
            page.wait_for_timeout(2000)  # the page flags (saves) the result once it has shown it
            made = sorted((outputs / "rembg").rglob("*.webp"))
            assert made, sorted((outputs / "rembg").rglob("*"))
            assert made[0].relative_to(outputs).as_posix() in _ledger(outputs)
        assert hosts == {"127.0.0.1"}, f"the browser fetched from other hosts: {hosts - {'127.0.0.1'}}"
        first_cookie = next(c for c in browser_context.cookies() if c["name"] == COOKIE)
        assert first_cookie["path"].startswith(f"/rnode/{host}/{port}") and first_cookie["httpOnly"]

        # The tool's own port answers only on 127.0.0.1: from the node's address it is refused.
        connection = json.loads((Path(launched["staged_root"]) / "connection.json").read_text())
        with socket.socket() as probe:
            probe.settimeout(5)
            assert probe.connect_ex((node, int(connection["tool_port"]))) != 0

        # A second session: the first one's cookie opens nothing there.
        second = site.submit(values)
        other = _running(site, slurm, second)
        refused = browser_context.request.get(
            proxy.rnode(host, int(other["connect"]["port"]), "/"),
            headers={"Cookie": f"{COOKIE}={first_cookie['value']}"},
        )
        assert (refused.status, refused.text()) == (403, "Forbidden")
        slurm.run("scancel", second["job_id"])
        slurm.run("scancel", launched["job_id"])
        slurm.wait_for(launched["job_id"], {"CANCELLED", "COMPLETED"}, timeout=90)
