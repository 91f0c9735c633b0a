"""Pictures of the dashboard's Box backup app for Start here, taken by `atelier screenshots`.

The pages are the app's own (web/box.py), served on 127.0.0.1 under the path the dashboard
gives it, in the same Chromium as the ComfyUI pictures. Box itself cannot be reached from
here, so the "Box" the app reads is an rclone remote of the same name that points at a
folder, holding two saved workflows to bring back. Box's own sign-in screen is Box's, not
ours: the page describes it in words, and no picture pretends to show it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from atelier.keep import backup
from atelier.layout import USER_FOLDER, WORKFLOWS
from atelier.web.box import BoxApp, Site

BASE = "/pun/sys/box"  # as deployed by `atelier ood deploy`
VIEWPORT = {"width": 1024, "height": 640}
SAVED = ("My still life.json", "Portrait study.json")  # what an earlier semester left in Box


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:  # library code never prints
        pass


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """rclone reads RCLONE_CONFIG, the app HOME: the pictures' remote and folder are never the maintainer's own."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _served(settings: backup.Settings, user_folder: str) -> Iterator[str]:
    """The app on a free port of 127.0.0.1, its address (the site file's redirect URI) made from that port."""
    server = make_server("127.0.0.1", 0, lambda *_: [], handler_class=_Quiet)
    address = f"http://127.0.0.1:{server.server_port}{BASE}"
    server.set_app(BoxApp(Site(settings, user_folder, f"{address}/callback")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield address
    finally:
        server.shutdown()
        server.server_close()


def alts(title: str) -> dict[str, str]:
    return {
        "box-connect.png": f"The dashboard's '{title} backup' page before connecting: '{title} is not connected yet', "
        f"a sentence on what connecting does, and the blue 'Connect {title}' button.",
        "box-connected.png": f"The '{title} backup' page once connected: '{title} is connected', where every session "
        f"copies outputs and saved workflows, the 'Bring my workflows back from {title}' button, "
        f"and 'Connect again'.",
        "box-restored.png": f"The '{title} backup' page after pressing 'Bring my workflows back from {title}': "
        f"'{len(SAVED)} files came back from {title} into {Path(USER_FOLDER).name} in your home folder'.",
    }


def take(page_factory: Any, workdir: Path) -> dict[str, bytes]:
    """The three pictures; `page_factory()` gives a new Chromium page (the caller's browser)."""
    settings = backup.Settings()
    remote_root = workdir / "box"
    saved = remote_root / settings.folder / backup.COMFYUI / "user" / WORKFLOWS
    saved.mkdir(parents=True, exist_ok=True)
    for name in SAVED:
        (saved / name).write_text(json.dumps({"nodes": [], "links": [], "version": 0.4}), encoding="utf-8")
    pictures: dict[str, bytes] = {}
    home = workdir / "home" / "student"
    with (
        _environment(RCLONE_CONFIG=str(workdir / "rclone.conf"), HOME=str(home)),
        _served(settings, USER_FOLDER) as app,
    ):
        page = page_factory()
        page.set_viewport_size(VIEWPORT)
        page.goto(f"{app}/")
        pictures["box-connect.png"] = page.screenshot(scale="css")  # the context draws at 2x for the crops
        subprocess.run(
            [str(backup.rclone()), "config", "create", settings.remote, "alias", "remote", str(remote_root)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        page.goto(f"{app}/?connected=1")
        pictures["box-connected.png"] = page.screenshot(scale="css")  # the context draws at 2x for the crops
        page.get_by_role("button", name=f"Bring my workflows back from {settings.title}").click()
        page.get_by_role("status").wait_for()
        pictures["box-restored.png"] = page.screenshot(scale="css")  # the context draws at 2x for the crops
    return pictures
