"""Connecting Box from the browser: OAuth 2.0's authorization-code flow, ending in rclone's remote.

`rclone authorize` needs a terminal and a browser on the same computer, which students on
a cluster lack. The dashboard's Box app (ood/box, atelier.web.box) does the same sign-in
through its one fixed address: `start` sends the student to Box with a fresh `state`, Box
sends them back with a code, and `finish` trades the code for a token and hands it to
`rclone config create` (backup.save_remote), so the remote is the very one rclone makes.

The state is 256 random bits kept in a file only the student can read, for ten minutes
and one use. Nothing a callback says is believed before its state matches: a link from
elsewhere, or an old one, is refused and writes nothing.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode
from urllib.request import Request, urlopen

from atelier.keep import backup
from atelier.messages import AtelierError

AUTHORIZE_URL = "https://account.box.com/api/oauth2/authorize"
TOKEN_URL = "https://api.box.com/oauth2/token"
STATE_SECONDS = 600  # a sign-in takes a minute; ten leave room for SSO's own pages
STATE_FILE = "atelier-box-signin.json"  # beside the student's rclone config


def state_file(settings: backup.Settings) -> Path:
    """Where a started sign-in waits: beside the rclone config, which is the student's alone."""
    return backup.config_file(settings.target).parent / STATE_FILE


def start(settings: backup.Settings, redirect_uri: str | None, state_path: Path) -> str:
    """The address of Box's sign-in page for this student, with a new state remembered."""
    if not settings.client_id or not redirect_uri:
        raise AtelierError("box-app-unset", title=settings.title)
    state = secrets.token_urlsafe(32)  # 32 bytes: 256 bits
    _write_private(state_path, json.dumps({"state": state, "made": time.time()}))
    query = urlencode(
        {"response_type": "code", "client_id": settings.client_id, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{settings.auth_url or AUTHORIZE_URL}?{query}"


def finish(
    settings: backup.Settings, redirect_uri: str | None, query: str | Mapping[str, str], state_path: Path
) -> dict[str, Any]:
    """Check Box's answer, trade its code for a token and save the remote; the token saved."""
    values = dict(parse_qsl(query)) if isinstance(query, str) else dict(query)
    _take_state(values.get("state", ""), state_path, settings.title)
    if values.get("error") == "access_denied":
        raise AtelierError("box-signin-denied", title=settings.title)
    if values.get("error") or not values.get("code"):
        detail = values.get("error_description") or values.get("error") or "no code came back"
        raise AtelierError("box-token-refused", title=settings.title, detail=detail[:200])
    if not settings.client_id or not redirect_uri:
        raise AtelierError("box-app-unset", title=settings.title)
    answer = _post(
        settings,
        {
            "grant_type": "authorization_code",
            "code": values["code"],
            "client_id": settings.client_id,
            "client_secret": settings.client_secret or "",
            "redirect_uri": redirect_uri,
        },
    )
    token = rclone_token(answer, datetime.now(UTC), settings.title)
    backup.save_remote(settings, json.dumps(token, separators=(",", ":")))
    return token


def rclone_token(answer: Mapping[str, Any], now: datetime, title: str = "Box") -> dict[str, Any]:
    """Box's token answer as rclone stores it: Go's oauth2.Token, its expiry in RFC 3339."""
    if not answer.get("access_token") or not answer.get("refresh_token"):
        raise AtelierError("box-token-refused", title=title, detail="its answer held no token")
    lasts = answer.get("expires_in")
    expiry = now + timedelta(seconds=int(3600 if lasts is None else lasts))  # Box says 3600 to 4200
    return {
        "access_token": answer["access_token"],
        "token_type": answer.get("token_type") or "bearer",
        "refresh_token": answer["refresh_token"],
        "expiry": expiry.isoformat(timespec="seconds"),
    }


def _post(settings: backup.Settings, form: dict[str, str]) -> dict[str, Any]:
    request = Request(
        settings.token_url or TOKEN_URL,
        data=urlencode(form).encode(),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    try:
        with urlopen(request, timeout=30) as response:
            answer = json.loads(response.read() or b"{}")
    except HTTPError as refused:
        raise AtelierError("box-token-refused", title=settings.title, detail=_said(refused)) from None
    except (URLError, OSError):  # no route, no name, a timeout, a proxy that said no
        raise AtelierError("box-unreachable", title=settings.title) from None
    except ValueError:
        raise AtelierError("box-token-refused", title=settings.title, detail="its answer was not JSON") from None
    return answer if isinstance(answer, dict) else {}


def _said(refused: HTTPError) -> str:
    """Box's own words for a refusal (OAuth's error_description), else its HTTP status."""
    try:
        body = json.loads(refused.read() or b"{}")
    except ValueError:
        body = {}
    words = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
    return str(words or f"HTTP {refused.code}")[:200]


def _take_state(given: str, path: Path, title: str) -> None:
    """Accept a callback's state once, if it is the one this student's last `start` made in time."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        state, made = str(kept["state"]), float(kept["made"])
    except (OSError, ValueError, KeyError, TypeError):
        raise AtelierError("box-signin-stale", title=title) from None
    if not hmac.compare_digest(given.encode(), state.encode()):
        raise AtelierError("box-signin-stale", title=title)  # the started sign-in stays usable
    path.unlink(missing_ok=True)
    if not 0 <= time.time() - made <= STATE_SECONDS:
        raise AtelierError("box-signin-stale", title=title)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.unlink(missing_ok=True)  # O_CREAT keeps an old file's mode
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(part, path)
    finally:  # a failed write (a full home) leaves no half-written copy behind
        part.unlink(missing_ok=True)
