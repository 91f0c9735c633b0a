"""Connecting Box without a terminal: the sign-in flow against an OAuth stand-in, with the real rclone.

The person's part on Box's page (Grant access, Deny) is a POST to the stand-in's form here;
tests/site/test_box_browser.py presses those buttons in Chromium.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

import pytest

from atelier.keep import backup, box_signin
from atelier.messages import AtelierError
from tests.conftest import free_port
from tests.oauth_standin import OAuthStandIn, RefusingProxy

REDIRECT = "https://ondemand.example.edu/pun/sys/box/callback"


@pytest.fixture
def standin() -> OAuthStandIn:
    server = OAuthStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The student's rclone config, empty, where rclone (and so atelier) looks for it."""
    path = tmp_path / "home" / ".config" / "rclone" / "rclone.conf"
    monkeypatch.setenv("RCLONE_CONFIG", str(path))
    return path


def settings_for(standin: OAuthStandIn, **changes: str) -> backup.Settings:
    return backup.Settings(
        **{
            "client_id": standin.client_id,
            "client_secret": standin.client_secret,
            "auth_url": standin.auth_url,
            "token_url": standin.token_url,
            **changes,
        }
    )


class _Stay(HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the test reads where Box sends the browser, and goes there itself


def press(url: str, choice: str) -> str:
    """Press a button on the stand-in's sign-in page; the query Box sends back to the redirect URI."""
    parts = urlsplit(url)
    form = {**dict(parse_qsl(parts.query)), "choice": choice}
    request = Request(f"{parts.scheme}://{parts.netloc}{parts.path}", data=urlencode(form).encode())
    try:
        build_opener(_Stay).open(request)
    except HTTPError as redirect:
        location = redirect.headers["Location"]
        assert location.startswith(form["redirect_uri"] + "?")
        return urlsplit(location).query
    raise AssertionError("the sign-in page did not send the browser back")


def config_text(path: Path) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif " = " in line:
            key, _, value = line.partition(" = ")
            current[key] = value
    return sections


def test_granting_access_writes_the_remote_rclone_would(standin: OAuthStandIn, config: Path, tmp_path: Path) -> None:
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    assert state_file.parent == config.parent
    url = box_signin.start(settings, REDIRECT, state_file)
    assert url.startswith(standin.auth_url + "?")
    asked = dict(parse_qsl(urlsplit(url).query))
    assert asked["redirect_uri"] == REDIRECT and asked["client_id"] == standin.client_id
    assert len(asked["state"]) == 43  # 32 random bytes, URL-safe base64
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    token = box_signin.finish(settings, REDIRECT, press(url, "grant"), state_file)
    remote = config_text(config)["box"]
    assert remote["type"] == "box" and remote["client_id"] == standin.client_id
    assert remote["auth_url"] == standin.auth_url and remote["token_url"] == standin.token_url
    stored = json.loads(remote["token"])
    assert stored == token and stored["refresh_token"] == standin.issued[0]["refresh_token"]
    assert datetime.fromisoformat(stored["expiry"]) > datetime.now(UTC)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert standin.requests[0]["grant_type"] == "authorization_code"
    assert standin.requests[0]["redirect_uri"] == REDIRECT
    assert not state_file.exists()  # a state serves once
    assert backup.remotes() == ["box"]


def test_connecting_again_replaces_the_sign_in(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    for _ in range(2):
        box_signin.finish(
            settings, REDIRECT, press(box_signin.start(settings, REDIRECT, state_file), "grant"), state_file
        )
    assert backup.remotes() == ["box"]
    assert json.loads(config_text(config)["box"]["token"])["refresh_token"] == standin.issued[1]["refresh_token"]


def test_deny_changes_nothing_and_says_so(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    with pytest.raises(AtelierError) as denied:
        box_signin.finish(settings, REDIRECT, press(url, "deny"), state_file)
    assert str(denied.value) == (
        "Box was not connected: on Box's page, Deny was chosen. Nothing was changed. To "
        "connect it, press Connect Box again and choose Grant access to Box."
    )
    assert not config.exists() and standin.requests == []


def test_a_state_this_student_did_not_start_is_refused(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    answer = dict(parse_qsl(press(url, "grant")))
    forged = urlencode({**answer, "state": "x" * 43})
    with pytest.raises(AtelierError) as refused:
        box_signin.finish(settings, REDIRECT, forged, state_file)
    assert refused.value.code == "box-signin-stale"
    assert not config.exists() and standin.requests == []  # the code was never even tried
    box_signin.finish(settings, REDIRECT, urlencode(answer), state_file)  # the real one still works
    assert backup.remotes() == ["box"]


def test_a_sign_in_older_than_ten_minutes_is_refused(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    kept = json.loads(state_file.read_text())
    state_file.write_text(json.dumps({**kept, "made": time.time() - box_signin.STATE_SECONDS - 1}))
    with pytest.raises(AtelierError) as old:
        box_signin.finish(settings, REDIRECT, press(url, "grant"), state_file)
    assert old.value.code == "box-signin-stale" and not config.exists()


def test_a_callback_with_no_sign_in_started_is_refused(standin: OAuthStandIn, config: Path) -> None:
    with pytest.raises(AtelierError) as refused:
        box_signin.finish(settings_for(standin), REDIRECT, "code=abc&state=def", config.parent / "none.json")
    assert str(refused.value).startswith(
        "This Box sign-in was not started on this page, or was started more than 10 minutes ago, so it was not used."
    )


def test_box_refusing_the_code_is_said_in_its_own_words(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin, client_secret="not-the-secret")
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    with pytest.raises(AtelierError) as refused:
        box_signin.finish(settings, REDIRECT, press(url, "grant"), state_file)
    assert refused.value.text == "Box did not finish the sign-in: it answered 'The client credentials are invalid'."
    assert not config.exists()


def test_box_out_of_reach_is_said_plainly(standin: OAuthStandIn, config: Path) -> None:
    settings = settings_for(standin, token_url=f"http://127.0.0.1:{free_port()}/oauth2/token")  # nothing listens
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    with pytest.raises(AtelierError) as unreachable:
        box_signin.finish(settings, REDIRECT, press(url, "grant"), state_file)
    assert unreachable.value.code == "box-unreachable" and not config.exists()


def test_without_the_universitys_box_app_there_is_nothing_to_start(config: Path) -> None:
    with pytest.raises(AtelierError) as unset:
        box_signin.start(backup.Settings(), REDIRECT, config.parent / "state.json")
    assert unset.value.code == "box-app-unset"
    with pytest.raises(AtelierError):
        box_signin.start(backup.Settings(client_id="id", client_secret="s"), None, config.parent / "state.json")


def test_the_sign_in_addresses_default_to_boxs_own() -> None:
    settings = backup.Settings(client_id="id", client_secret="s")
    assert box_signin.AUTHORIZE_URL == "https://account.box.com/api/oauth2/authorize"
    assert box_signin.TOKEN_URL == "https://api.box.com/oauth2/token"
    assert settings.auth_url is None and settings.token_url is None


def test_a_profile_may_not_misspell_the_new_fields(tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as wrong:
        backup.settings_from({"token_uri": "http://127.0.0.1/"}, tmp_path / "pegasus.yaml")
    assert "'backup.token_uri' is not a known field" in str(wrong.value)
    assert "auth_url, token_url" in str(wrong.value)


def test_rclones_box_backend_reads_and_refreshes_the_remote_written(
    standin: OAuthStandIn, config: Path, tmp_path: Path
) -> None:
    """The real rclone refreshes an expired token at the token_url with the client's own id and secret."""
    standin.expires_in = 5  # Go's oauth2 refreshes a token within 10 s of its expiry
    settings = settings_for(standin)
    state_file = box_signin.state_file(settings)
    url = box_signin.start(settings, REDIRECT, state_file)
    first = box_signin.finish(settings, REDIRECT, press(url, "grant"), state_file)
    proxy = RefusingProxy()
    try:
        env = {**os.environ, "HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "NO_PROXY": ""}
        done = subprocess.run(
            [str(backup.rclone()), "lsd", "box:", *backup.QUICK], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        proxy.stop()
    refreshes = [r for r in standin.requests if r["grant_type"] == "refresh_token"]
    assert refreshes, done.stderr
    assert refreshes[0]["refresh_token"] == first["refresh_token"]
    assert (refreshes[0]["client_id"], refreshes[0]["client_secret"]) == (standin.client_id, standin.client_secret)
    stored = json.loads(config_text(config)["box"]["token"])
    assert stored["refresh_token"] == standin.issued[-1]["refresh_token"] != first["refresh_token"]
    assert done.returncode != 0  # Box's API itself stays out of reach: the proxy let nothing out
    assert proxy.asked and all(line.startswith("CONNECT api.box.com:443") for line in proxy.asked)


def test_restore_brings_the_comfyui_folder_back_and_keeps_local_changes(webdav, tmp_path: Path) -> None:
    mine = tmp_path / "atelier-comfyui"
    for name, text in {
        "user/default/workflows/portrait.json": '{"nodes": []}',
        "user/default/workflows/still life.json": '{"nodes": [1]}',
        "input/photo.png": "not really a picture",
    }.items():
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(text)
    target = backup.Target.parse("test:Atelier")
    backup.run_folder(mine, target)
    assert (webdav.root / "Atelier" / backup.COMFYUI / "input" / "photo.png").is_file()

    elsewhere = tmp_path / "another cluster" / "atelier-comfyui"
    (elsewhere / "user/default/workflows").mkdir(parents=True)
    (elsewhere / "user/default/workflows/portrait.json").write_text('{"nodes": ["changed here"]}')
    (elsewhere / "notes.txt").write_text("only here")
    result = backup.restore(target, elsewhere)
    assert (result.copied, result.same, result.kept) == (2, 0, ["user/default/workflows/portrait.json"])
    assert (elsewhere / "user/default/workflows/still life.json").read_text() == '{"nodes": [1]}'
    assert (elsewhere / "input/photo.png").read_text() == "not really a picture"
    assert (elsewhere / "user/default/workflows/portrait.json").read_text() == '{"nodes": ["changed here"]}'
    assert (elsewhere / "notes.txt").read_text() == "only here"
    again = backup.restore(target, elsewhere)
    assert (again.copied, again.same, again.kept) == (0, 2, ["user/default/workflows/portrait.json"])
    assert sorted(p.name for p in (webdav.root / "Atelier" / backup.COMFYUI).rglob("*") if p.is_file()) == [
        "photo.png",
        "portrait.json",
        "still life.json",
    ]  # the backup itself is untouched


def test_restore_before_any_backup_brings_nothing(webdav, tmp_path: Path) -> None:
    result = backup.restore(backup.Target.parse("test:Atelier"), tmp_path / "atelier-comfyui")
    assert (result.copied, result.same, result.kept) == (0, 0, [])


def test_restore_from_a_remote_not_connected_says_so(webdav, tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as unknown:
        backup.restore(backup.Target.parse("nothere:Atelier"), tmp_path / "atelier-comfyui")
    assert unknown.value.code == "backup-remote-unknown"
