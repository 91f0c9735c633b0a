"""Connecting Box as a student does it: Chromium, the Box app under Phusion Passenger, an OAuth stand-in.

The app is deployed by `ood.deploy_box` and served as OOD serves it (tests/passenger.py).
"""

from __future__ import annotations

import dataclasses
import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, expect

from atelier.hpc import ood
from atelier.hpc.profiles import load_profile
from atelier.keep import backup
from tests.conftest import WebDav, free_port
from tests.oauth_standin import OAuthStandIn
from tests.passenger import needs_passenger, passenger_app
from tests.walkthrough import bold, steps

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_passenger
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@dataclasses.dataclass
class BoxApp:
    url: str  # the app's first page
    config: Path  # the student's rclone config
    standin: OAuthStandIn


@pytest.fixture(scope="module")
def box_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BoxApp]:
    folder = tmp_path_factory.mktemp("box-app")
    standin = OAuthStandIn().start()
    port = free_port()
    local = load_profile("local")
    # Passenger gives the app the real HOME of the user it runs as: the student's folder is named outright.
    profile = dataclasses.replace(
        local,
        ondemand_url=f"http://127.0.0.1:{port}",
        user_folder=str(folder / "home" / "atelier-comfyui"),
        backup=dataclasses.replace(
            local.backup,
            client_id=standin.client_id,
            client_secret=standin.client_secret,
            auth_url=standin.auth_url,
            token_url=standin.token_url,
        ),
    )
    app, site_file = ood.deploy_box(
        folder / "apps" / "box", folder / "config" / "atelier.json", [profile], app=ROOT / ood.BOX_APP
    )
    assert json.loads(site_file.read_text())["python"] == sys.executable  # not the system Python: a hand-over
    config = folder / "home" / ".config" / "rclone" / "rclone.conf"
    url = f"http://127.0.0.1:{port}/pun/sys/box/"
    try:
        with passenger_app(
            app,
            port,
            folder,
            url,
            {"ATELIER_SITE_FILE": str(site_file), "RCLONE_CONFIG": str(config), "HOME": str(folder / "home")},
        ):
            yield BoxApp(url, config, standin)
    finally:
        standin.stop()


@pytest.fixture
def page(box_app: BoxApp, context: BrowserContext) -> Iterator[Page]:
    """A fresh student: no rclone config yet; every request of the browser kept to this machine."""
    box_app.config.unlink(missing_ok=True)
    hosts: list[str] = []
    context.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
    page = context.new_page()
    yield page
    assert set(hosts) == {"127.0.0.1"}, hosts


def remote_in(config: Path) -> str:
    return config.read_text() if config.exists() else ""


def test_start_here_names_the_app_where_the_dashboard_lists_it() -> None:
    """Keep your work safe, step 1: the menu and the app's name, as OOD's navigation shows them."""
    menu, name = bold(steps("backup.md", "Connect your Box (once)")[0])
    manifest = yaml.safe_load((ROOT / ood.BOX_APP / "manifest.yml").read_text())
    assert (menu, name) == (manifest["category"], manifest["name"])


def test_a_student_connects_box_with_two_clicks(box_app: BoxApp, page: Page) -> None:
    """Keep your work safe → Connect your Box (once), followed to the letter: each bold label is pressed or seen."""
    _, press, grant, connected = [bold(step) for step in steps("backup.md", "Connect your Box (once)")]
    page.goto(box_app.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Box backup")
    expect(page.get_by_role("heading", name="Box is not connected yet")).to_be_visible()
    assert Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}}).violations_count == 0
    page.get_by_role("link", name=press[0], exact=True).click()
    page.get_by_role("button", name=grant[0], exact=True).click()  # the stand-in's, named as Box names it
    expect(page.get_by_role("heading", name=connected[0], exact=True)).to_be_visible()
    expect(
        page.get_by_text("Every session copies your outputs and saved workflows to the folder Atelier in your Box")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Bring my workflows back from Box")).to_be_visible()
    expect(page.get_by_role("link", name="Connect again")).to_be_visible()
    assert page.url == box_app.url + "?connected=1"
    assert Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}}).violations_count == 0

    sections = backup_sections(box_app.config)
    assert sections["box"]["type"] == "box"
    assert sections["box"]["client_id"] == box_app.standin.client_id
    assert json.loads(sections["box"]["token"])["refresh_token"] == box_app.standin.issued[-1]["refresh_token"]
    assert stat.S_IMODE(box_app.config.stat().st_mode) == 0o600


def test_deny_leaves_box_unconnected_and_says_so(box_app: BoxApp, page: Page) -> None:
    page.goto(box_app.url)
    page.get_by_role("link", name="Connect Box").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.get_by_role("alert")).to_have_text("Box was not connected: on Box's page, Deny was chosen.")
    expect(page.get_by_text("press Connect Box again and choose Grant access to Box")).to_be_visible()
    assert "[box]" not in remote_in(box_app.config)
    page.get_by_role("link", name="Back to the Box page").click()
    expect(page.get_by_role("heading", name="Box is not connected yet")).to_be_visible()


def test_a_sign_in_link_from_elsewhere_is_refused(box_app: BoxApp, page: Page) -> None:
    page.goto(box_app.url + "callback?code=stolen&state=" + "A" * 43)
    expect(page.get_by_role("alert")).to_contain_text("This Box sign-in was not started on this page")
    assert "Traceback" not in page.content()
    assert "[box]" not in remote_in(box_app.config)


def backup_sections(config: Path) -> dict[str, dict[str, str]]:
    """The rclone config as rclone's own `config dump` reads it."""
    done = subprocess.run(
        [str(backup.rclone()), "config", "dump", "--config", str(config)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_a_student_brings_saved_workflows_back_with_the_button(box_app: BoxApp, page: Page, tmp_path: Path) -> None:
    """The button in Chromium, whose form post must pass the app's same-site check (Origin is sent as the page's)."""
    remote = WebDav(tmp_path / "remote", box_app.config)
    saved = remote.root / "Atelier" / backup.COMFYUI / "user" / "default" / "workflows"
    saved.mkdir(parents=True)
    (saved / "crit piece.json").write_text('{"nodes": []}')
    remote.start()
    try:
        remote.configure("box")  # the profile's remote name, served from this machine instead of Box
        page.goto(box_app.url)
        bring = bold(steps("backup.md", "Your workflows on another cluster, or next semester")[1])[0]
        page.get_by_role("button", name=bring, exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("1 file came back from Box")
        home = box_app.config.parents[2]
        assert (
            home / "atelier-comfyui" / "user" / "default" / "workflows" / "crit piece.json"
        ).read_text() == '{"nodes": []}'
    finally:
        remote.stop()
