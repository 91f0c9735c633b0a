"""Tell the student inside ComfyUI when the folders their work goes to are (nearly) full.

Homes on a cluster are small. When the outputs folder fills up, a Save Image node fails
with "[Errno 28] No space left on device" and ComfyUI's page shows only that; the
session's log is where the plain sentence was, and students do not read logs. Loaded
into ComfyUI like the gate, this module:

* measures the free space of the session's folders (ATELIER_SPACE_FOLDERS: the outputs
  folder, ComfyUI's user folder, the student's upload folder) with shutil.disk_usage,
  when ComfyUI starts (into its log), when the page opens (GET atelier/space, which
  web/space.js asks) and when each prompt starts; below LOW_BYTES it sends the page a
  notice;
* when a node fails for lack of space (ENOSPC, or the home's quota: EDQUOT), sends the
  page the plain sentence as a notice of its own, right after ComfyUI's error.

Notices are WebSocket messages of type EVENT, {"severity": "warn"|"error", "text": ...},
sent through ComfyUI's own send_sync to the client that queued the prompt; web/space.js
shows each as a toast. The sentences are the message catalogue's (folder-low,
folder-full), passed by ComfyServer with their blanks left as {names}.

Standalone like the gate: ComfyUI's Python imports it, so it uses nothing from atelier.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "web"  # space.js: the toasts

LOW_BYTES = 500 * 1024**2  # under this, a folder is "low": a few hundred pictures, or a few short videos
EVENT = "atelier.notice"
ROUTE = "/atelier/space"
NO_SPACE = re.compile(r"\[Errno (?:28|122)\]|No space left on device|Disk quota exceeded", re.IGNORECASE)
# Only when ComfyServer did not pass the message catalogue's sentences.
FALLBACK_LOW = "Only {free} is left in {folder}. Make room before it is full."
FALLBACK_FULL = "The folder is full: node {node} '{title}' could not save its picture. Make room, then run again."


def size(count: float) -> str:
    """Bytes as a student reads them: '120 MB', '3.5 GB'."""
    for unit in ("bytes", "KB", "MB"):
        if count < 1024:
            return f"{count:.0f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


def low_notices(folders: list[Path], template: str, low: int = LOW_BYTES) -> list[str]:
    """One sentence for each file system among `folders` with less than `low` bytes free."""
    said, seen = [], set()
    for folder in folders:
        try:
            device = folder.stat().st_dev
            free = shutil.disk_usage(folder).free
        except OSError:
            continue  # not made yet, or gone: nothing to warn of
        if device in seen:
            continue  # the outputs and the user folder on one home: one notice
        seen.add(device)
        if free < low:
            said.append(template.format(free=size(free), folder=folder))
    return said


def is_no_space(data: dict) -> bool:
    """Whether an execution_error is a disk (or a quota) that is full."""
    return bool(NO_SPACE.search(f"{data.get('exception_type', '')} {data.get('exception_message', '')}"))


class Watch:
    """The folders, the sentences, and the send_sync in front of ComfyUI's own."""

    def __init__(
        self,
        folders: list[Path],
        low_text: str,
        full_text: str,
        title: Callable[[str, str], str | None] = lambda prompt_id, node: None,
    ) -> None:
        self.folders, self.low_text, self.full_text, self.title = folders, low_text, full_text, title

    def notices(self) -> list[dict[str, str]]:
        return [{"severity": "warn", "text": text} for text in low_notices(self.folders, self.low_text)]

    def after(self, event: str, data: dict) -> list[dict[str, str]]:
        """The notices that follow one of ComfyUI's messages."""
        if event == "execution_start":
            return self.notices()
        if event == "execution_error" and isinstance(data, dict) and is_no_space(data):
            node = str(data.get("node_id", "?"))
            title = self.title(str(data.get("prompt_id", "")), node) or str(data.get("node_type") or node)
            text = self.full_text.format(node=node, title=title)
            logging.warning("atelier space: %s", text)
            return [{"severity": "error", "text": text}]
        return []

    def wrap(self, send_sync: Callable[..., None]) -> Callable[..., None]:
        def send(event, data, sid=None):
            send_sync(event, data, sid)
            try:
                notices = self.after(event, data)
            except Exception:  # a notice must never stop ComfyUI's own message
                logging.exception("atelier space: could not check the free space")
                return
            for notice in notices:
                send_sync(EVENT, notice, sid)

        return send


def _title_from(instance) -> Callable[[str, str], str | None]:
    """The failed node's title on the canvas, from the prompt that is running."""

    def title(prompt_id: str, node: str) -> str | None:
        running, _ = instance.prompt_queue.get_current_queue_volatile()
        for item in running:
            if len(item) > 2 and item[1] == prompt_id:
                return item[2].get(node, {}).get("_meta", {}).get("title")
        return None

    return title


def _install() -> None:
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return  # imported by atelier's tests, not by ComfyUI
    import folder_paths  # ComfyUI's own
    from aiohttp import web

    named = [Path(p) for p in os.environ.get("ATELIER_SPACE_FOLDERS", "").split(os.pathsep) if p]
    folders = named or [Path(folder_paths.get_output_directory()), Path(folder_paths.get_user_directory())]
    watch = Watch(
        folders,
        os.environ.get("ATELIER_FOLDER_LOW") or FALLBACK_LOW,
        os.environ.get("ATELIER_FOLDER_FULL") or FALLBACK_FULL,
        _title_from(instance),
    )
    instance.send_sync = watch.wrap(instance.send_sync)  # the executor sends through the instance

    async def space(request):
        return web.json_response({"notices": watch.notices()})

    instance.routes.get(ROUTE)(space)  # ComfyUI adds it to its app, and again under /api
    for notice in watch.notices():
        logging.warning("atelier space: %s", notice["text"])


_install()
