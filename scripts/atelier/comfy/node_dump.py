"""The node list read from a live ComfyUI: what `atelier catalogue` saves for lint and the docs.

Offline code (lint, conversion, the site) reads the saved file through lessons.nodes;
only this reads it from a running ComfyUI, which is why it lives here.
"""

from __future__ import annotations

import json
from pathlib import Path

from atelier.comfy.client import ComfyClient
from atelier.lessons.nodes import AUDIO_PROBES, Catalogue, strip
from atelier.messages import AtelierError


def dump(server: str, path: Path, token: str | None = None) -> Catalogue:
    """Read `/object_info` from a running ComfyUI and write the stripped catalogue."""
    client = ComfyClient(server, token=token)
    object_info = client.get_json("/object_info")
    version = client.get_json("/system_stats").get("system", {}).get("comfyui_version", "unknown")
    missing = [name for name in AUDIO_PROBES if name not in object_info]
    if missing:
        raise AtelierError("catalogue-no-audio", url=server, nodes=", ".join(missing))
    nodes, api_nodes = strip(object_info)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"comfyui_version": version, "api_nodes": api_nodes, "nodes": nodes}
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return Catalogue(version, nodes, api_nodes)
