"""Keep a session on a share of a GPU inside its share's memory, since Slurm's shards do not fence it.

With `gres/shard`, several students' ComfyUIs run on one card, and each ComfyUI sees the
whole card: left alone, the first to load a big model plans with (and takes) the memory
the others were promised, and the card's out-of-memory error lands on whoever allocates
next. Loaded into ComfyUI like the gate when `serve --share-gb N` sets ATELIER_SHARE_GB,
this module:

* caps PyTorch's allocator for this process at the share (`set_per_process_memory_fraction`),
  so loading too much fails with an out-of-memory error in this session, never another's;
* makes ComfyUI's own planning see the share, not the card: `total_vram`,
  `get_total_memory` and `get_free_memory` are clamped to it, so ComfyUI offloads weights
  (its low-VRAM mode) to stay inside instead of running into the cap;
* when a prompt fails for lack of memory, sends the page the plain sentence
  (ATELIER_SHARE_FULL, the catalogue's share-full) as a notice, which the space
  extension's web/space.js shows beside ComfyUI's own error.

On a session without a CUDA card (the test cluster's stand-in cards) it says so in the
log and changes nothing. Standalone like the gate: ComfyUI's Python imports it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

GB = 1024**3
EVENT = "atelier.notice"  # the space extension's notice: its web/space.js shows it as a toast
FALLBACK_FULL = "This session's share of the GPU ({share} GB) is full."


def fenced_total(card_total: int, share: int) -> int:
    """The memory ComfyUI may plan with: its share, or the card where that is smaller."""
    return min(card_total, share)


def fenced_free(card_free: int, active: int, share: int) -> int:
    """What this session may still allocate: the card's free memory, but never past its own share."""
    return max(0, min(card_free, share - active))


def is_out_of_memory(data: dict) -> bool:
    """Whether an execution_error is PyTorch running out of GPU memory (the cap, or the card)."""
    text = f"{data.get('exception_type', '')} {data.get('exception_message', '')}"
    return "OutOfMemoryError" in text or "out of memory" in text.lower()


def notify_when_full(send_sync: Callable[..., None], text: str) -> Callable[..., None]:
    """ComfyUI's send_sync, followed by the plain sentence after an out-of-memory error."""

    def send(event, data, sid=None):
        send_sync(event, data, sid)
        if event == "execution_error" and isinstance(data, dict) and is_out_of_memory(data):
            logging.warning("atelier share: %s", text)
            send_sync(EVENT, {"severity": "error", "text": text}, sid)

    return send


def _fence(share: int) -> str:
    """Cap the allocator and ComfyUI's planning at `share` bytes; returns what was done, for the log."""
    import torch
    from comfy import model_management as mm

    device = mm.get_torch_device()
    if getattr(device, "type", "") != "cuda":
        return f"no CUDA card here ({device}): nothing to fence"
    card = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, share / card), device)
    total, free = mm.get_total_memory, mm.get_free_memory

    def get_total_memory(dev=None, torch_total_too=False):
        found = total(dev, torch_total_too=True)
        if getattr(dev or device, "type", "") != "cuda":
            return found if torch_total_too else found[0]
        clamped = (fenced_total(found[0], share), fenced_total(found[1], share))
        return clamped if torch_total_too else clamped[0]

    def get_free_memory(dev=None, torch_free_too=False):
        found = free(dev, torch_free_too=True)
        if getattr(dev or device, "type", "") != "cuda":
            return found if torch_free_too else found[0]
        active = torch.cuda.memory_stats(dev or device).get("active_bytes.all.current", 0)
        left = fenced_free(found[0], active, share)
        return (left, min(found[1], left)) if torch_free_too else left

    mm.get_total_memory, mm.get_free_memory = get_total_memory, get_free_memory
    mm.total_vram = min(mm.total_vram, share / (1024 * 1024))
    return f"kept within {share / GB:g} GB of the card's {card / GB:.0f} GB"


def _install() -> None:
    wanted = os.environ.get("ATELIER_SHARE_GB")
    if not wanted:
        return
    share = int(float(wanted) * GB)
    logging.info("atelier share: this session's share of the GPU: %s", _fence(share))
    import server  # ComfyUI's own module: the running PromptServer

    instance = server.PromptServer.instance
    text = (os.environ.get("ATELIER_SHARE_FULL") or FALLBACK_FULL).format(share=f"{share / GB:g}")
    instance.send_sync = notify_when_full(instance.send_sync, text)


try:
    _install()
except ImportError:  # imported outside ComfyUI (the unit tests): the functions above are all there is
    pass
