"""The dashboard's Box app: what deploy writes for it, and its pages answered by the WSGI app itself.

Chromium drives the same pages under Passenger in tests/site/test_box_browser.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import stat
import sys
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest

from atelier.hpc import ood
from atelier.hpc.profiles import load_profile
from atelier.keep import backup
from atelier.layout import Layout
from atelier.messages import AtelierError
from atelier.web.box import BoxApp, Site, load_site

ROOT = Path(__file__).resolve().parents[2]
OOD_URL = "https://ondemand.example.edu"


def profile(name: str, **backup_changes: object):
    base = load_profile(name)
    return dataclasses.replace(
        base,
        ondemand_url=OOD_URL,
        backup=dataclasses.replace(base.backup, client_id="uni-id", client_secret="uni-secret", **backup_changes),
    )


def test_deploy_ships_the_box_app_and_its_site_file(tmp_path: Path) -> None:
    profiles = [profile("local"), profile("pegasus"), profile("cerberus")]
    app, site_file = ood.deploy_box(
        tmp_path / "apps" / "box", tmp_path / "config" / "atelier.json", profiles, app=ROOT / ood.BOX_APP
    )
    assert sorted(p.name for p in app.iterdir()) == ["manifest.yml", "passenger_wsgi.py"]
    written = json.loads(site_file.read_text())
    assert written["redirect_uri"] == "https://ondemand.example.edu/pun/sys/box/callback"
    assert written["profile"] == "pegasus"  # the first installed one: the test machine's has no install
    assert written["python"] == str(Layout.python(Layout.of(profiles[1].prefix).atelier_venv))
    assert written["user_folder"] == "$HOME/atelier-comfyui"
    assert written["backup"]["client_id"] == "uni-id" and written["backup"]["folder"] == "Atelier"
    assert stat.S_IMODE(site_file.stat().st_mode) == 0o644  # every student's own nginx reads it
    site = load_site(site_file)
    assert site.settings == profiles[1].backup and site.base == "/pun/sys/box"
    assert ood.box_findings(ood.box_config(profiles, "box")) == []


def test_the_apps_folder_name_is_in_its_address() -> None:
    config = ood.box_config([profile("pegasus")], "atelier-box")
    assert config["redirect_uri"] == "https://ondemand.example.edu/pun/sys/atelier-box/callback"
    assert ood.box_site_file("atelier-box") == Path("/etc/ood/config/apps/atelier-box/atelier.json")


def test_without_an_install_the_app_runs_this_python() -> None:
    assert ood.box_config([profile("local")], "box")["python"] == sys.executable


def test_profiles_that_back_up_to_different_places_are_refused() -> None:
    with pytest.raises(AtelierError) as refused:
        ood.box_config([profile("pegasus"), profile("cerberus", folder="Cerberus")], "box")
    assert refused.value.code == "box-profiles-disagree"
    assert refused.value.text.startswith(
        "The clusters pegasus, cerberus keep their backups in different places (backup folder)"
    )


def test_a_profile_without_a_box_app_deploys_with_a_note() -> None:
    plain = dataclasses.replace(load_profile("pegasus"), ondemand_url=None)
    findings = ood.box_findings(ood.box_config([plain], "box"))
    assert [str(f) for f in findings] == [
        "The Box app was deployed, but the profile pegasus names no backup.client_id or ondemand_url, so no "
        "student can connect with it yet. Register the university's Box app and fill in the profile as the "
        "Runbook's Backups page says, then deploy again; until then students connect with 'atelier backup setup'."
    ]


def call(
    app: BoxApp,
    path: str,
    method: str = "GET",
    script: str = "/pun/sys/box",
    log: io.StringIO | None = None,
    **headers: str,
) -> tuple[str, dict[str, str], str]:
    """One request as Open OnDemand's Passenger hands it over: the app's path in SCRIPT_NAME."""
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script,
        "PATH_INFO": path.partition("?")[0],
        "QUERY_STRING": path.partition("?")[2],
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": log or io.StringIO(),
        **headers,
    }
    setup_testing_defaults(environ)
    answered: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response)).decode()
    return str(answered["status"]), answered["headers"], body  # type: ignore[return-value]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "rclone.conf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    settings = backup.Settings(client_id="uni-id", client_secret="uni-secret")
    return Site(settings, "$HOME/atelier-comfyui", f"{OOD_URL}/pun/sys/box/callback")


def test_the_first_page_offers_one_button_to_connect(site: Site) -> None:
    status, headers, body = call(BoxApp(site), "/")
    assert status == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.count("<h1>") == 1 and "<h1>Box backup</h1>" in body
    assert "<h2>Box is not connected yet</h2>" in body
    assert '<a class="button" href="/pun/sys/box/connect">Connect Box</a>' in body
    assert "<script" not in body and "http" not in body.replace(OOD_URL, "")  # nothing from elsewhere
    assert "default-src 'none'" in headers["Content-Security-Policy"]


def test_connect_sends_the_browser_to_box_with_the_registered_address(site: Site) -> None:
    status, headers, _ = call(BoxApp(site), "/connect")
    assert status == "303 See Other"
    assert headers["Location"].startswith(
        "https://account.box.com/api/oauth2/authorize?response_type=code&"
        "client_id=uni-id&redirect_uri=https%3A%2F%2Fondemand.example.edu%2Fpun"
        "%2Fsys%2Fbox%2Fcallback&state="
    )


def test_a_stray_callback_is_a_plain_sentence(site: Site) -> None:
    status, _, body = call(BoxApp(site), "/callback?code=abc&state=nope")
    assert status == "400 Bad Request"
    assert "This Box sign-in was not started on this page" in body and "Traceback" not in body
    assert '<a href="/pun/sys/box/">Back to the Box page</a>' in body


def test_an_unknown_page_and_a_press_from_elsewhere_are_refused(site: Site) -> None:
    status, _, body = call(BoxApp(site), "/admin")
    assert status == "404 Not Found" and "The Box app has no page at /pun/sys/box/admin." in body
    status, _, body = call(BoxApp(site), "/restore", method="POST", HTTP_ORIGIN="https://evil.example")
    assert status == "403 Forbidden" and "That button was pressed on another website" in body


def test_a_missing_box_app_is_named_for_support(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "rclone.conf"))
    status, _, body = call(BoxApp(Site(backup.Settings(), "$HOME/atelier-comfyui", None)), "/connect")
    assert status == "200 OK" and "Connecting Box from the dashboard is not set up yet on this cluster." in body


def test_the_restore_button_says_what_came_back_and_what_was_kept(
    webdav, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    saved = webdav.root / "Atelier" / backup.COMFYUI / "user" / "default" / "workflows"
    saved.mkdir(parents=True)
    (saved / "portrait.json").write_text('{"nodes": []}')
    (saved / "collage.json").write_text('{"nodes": [2]}')
    mine = tmp_path / "home" / "atelier-comfyui" / "user" / "default" / "workflows"
    mine.mkdir(parents=True)
    (mine / "portrait.json").write_text('{"nodes": ["mine, newer"]}')
    app = BoxApp(
        Site(
            backup.Settings(remote="test", client_id="uni-id"),
            "$HOME/atelier-comfyui",
            f"{OOD_URL}/pun/sys/box/callback",
        )
    )
    status, _, page = call(app, "/")
    assert "<h2>Box is connected</h2>" in page and ">Bring my workflows back from Box</button>" in page
    status, _, body = call(app, "/restore", method="POST", HTTP_ORIGIN=OOD_URL)
    assert status == "200 OK"
    # Named as the dashboard's Files shows it: a folder in the student's home, not a path to type.
    assert "1 file came back from Box into <code>atelier-comfyui</code> in your home folder." in body
    assert (
        "1 file was kept as it is, because a different file of that name is already here: "
        "<code>user/default/workflows/portrait.json</code>."
    ) in body
    assert (mine / "portrait.json").read_text() == '{"nodes": ["mine, newer"]}'
    assert (mine / "collage.json").read_text() == '{"nodes": [2]}'


def test_a_problem_of_the_apps_own_is_a_sentence_for_the_student_and_a_traceback_for_the_log(
    site: Site, tmp_path: Path
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "atelier-comfyui").write_text("a file where the ComfyUI folder should be")
    log = io.StringIO()
    status, _, body = call(BoxApp(site), "/restore", method="POST", log=log, HTTP_ORIGIN=OOD_URL)
    assert status == "500 Internal Server Error"
    assert "The Box app stopped on a problem of its own (FileExistsError)." in body and "Traceback" not in body
    assert log.getvalue().startswith("Traceback (most recent call last):")
