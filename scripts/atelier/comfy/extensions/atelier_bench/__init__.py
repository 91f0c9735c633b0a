"""Peak GPU and host memory of this ComfyUI, for `atelier bench`.

Only the ComfyUI process sees its own memory, and a poll from outside would miss short
peaks (the VAE decode at the end of a picture is often the highest). Loaded only when
`atelier bench` starts ComfyUI: POST /atelier/bench/reset starts a new window and GET
/atelier/bench/peaks reads it (and whether an unload the bench asked for is still
waiting for ComfyUI's worker). On CUDA the peak is PyTorch's own counter of the memory
it reserved (kept by either allocator ComfyUI picks), so nothing touches the GPU while
a picture is made; Apple's MPS has no such counter, so it is sampled, like host memory,
by a thread every 50 ms.

Standalone like the gate: ComfyUI's Python imports it, so it uses nothing from atelier.
"""

from __future__ import annotations

import threading
import time

import comfy.model_management
import psutil
import torch
from aiohttp import web
from server import PromptServer

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
INTERVAL = 0.05
_device = comfy.model_management.get_torch_device()
_process = psutil.Process()
_lock = threading.Lock()
_peaks: dict[str, int | None] = {"gpu_bytes": None, "host_bytes": 0}


def _mps_in_use() -> int | None:
    return torch.mps.driver_allocated_memory() if _device.type == "mps" else None


def _sample() -> None:
    with _lock:
        mps = _mps_in_use()
        if mps is not None:
            _peaks["gpu_bytes"] = max(_peaks["gpu_bytes"] or 0, mps)
        _peaks["host_bytes"] = max(_peaks["host_bytes"] or 0, _process.memory_info().rss)


def _watch() -> None:
    while True:
        _sample()
        time.sleep(INTERVAL)


@PromptServer.instance.routes.post("/atelier/bench/reset")
async def reset(request: web.Request) -> web.Response:
    with _lock:
        _peaks["gpu_bytes"] = None
        _peaks["host_bytes"] = 0
    if _device.type == "cuda":
        torch.cuda.empty_cache()  # blocks cached from the last workload would count as this one's
        torch.cuda.reset_peak_memory_stats(_device)
    elif _device.type == "mps":
        torch.mps.empty_cache()
    _sample()
    return web.json_response({})


@PromptServer.instance.routes.get("/atelier/bench/peaks")
async def peaks(request: web.Request) -> web.Response:
    _sample()
    total = None
    with _lock:
        found = dict(_peaks)
    if _device.type == "cuda":
        found["gpu_bytes"] = torch.cuda.max_memory_reserved(_device)
        total = torch.cuda.get_device_properties(_device).total_memory
    # ComfyUI's worker takes the /free flags off the queue, then unloads and clears its cache before it
    # takes the next prompt: once no flag waits, a prompt sent now starts from nothing loaded.
    pending = bool(PromptServer.instance.prompt_queue.get_flags(reset=False))
    return web.json_response({**found, "gpu_total_bytes": total, "device": str(_device), "free_pending": pending})


threading.Thread(target=_watch, name="atelier-bench-memory", daemon=True).start()
