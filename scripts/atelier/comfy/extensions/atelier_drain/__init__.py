"""Let the running picture finish when a session is told to stop.

Slurm ends a job (time limit or scancel) by sending SIGTERM to every process in it,
ComfyUI included, and SIGKILL some seconds later (the cluster's KillWait). Python's
default is to die at once, which can leave a picture half-written. Loaded into ComfyUI
like the gate, this module catches SIGTERM instead: it empties the queue so nothing new
starts, waits for the prompt that is running (at most ATELIER_DRAIN_SECONDS), then
exits. Every file ComfyUI saved is therefore complete on disk.

Standalone like the gate: ComfyUI's Python imports it, so it uses nothing from atelier.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
# When ComfyServer did not say: a copy of atelier.comfy.server.DRAIN_SECONDS (tests/unit/test_copies.py).
SECONDS = 25.0
_stopping = threading.Event()


def _prompt_queue():
    server = sys.modules.get("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    return getattr(instance, "prompt_queue", None)


def _drain(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    queue = _prompt_queue()
    finished = queue is None
    while not finished and time.monotonic() < deadline:
        queue.wipe_queue()  # again each turn: a prompt queued meanwhile must not start either
        running, _ = queue.get_current_queue_volatile()
        finished = not running
        if not finished:
            time.sleep(0.2)
    logging.info(
        "atelier drain: %s; ComfyUI stops now",
        "the running prompt finished" if finished else f"still running after {seconds:.0f} s",
    )
    logging.shutdown()
    os._exit(0 if finished else 1)


def _on_terminate(signum: int, frame: object) -> None:
    if _stopping.is_set():
        return
    _stopping.set()
    seconds = float(os.environ.get("ATELIER_DRAIN_SECONDS") or SECONDS)
    logging.info("atelier drain: asked to stop; letting the running prompt finish (at most %.0f s)", seconds)
    threading.Thread(target=_drain, args=(seconds,), name="atelier-drain", daemon=True).start()


def _install() -> None:
    if _prompt_queue() is None:
        return  # imported outside ComfyUI
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_terminate)


_install()
