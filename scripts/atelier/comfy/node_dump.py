"""The node list read from a live ComfyUI: what `atelier nodes` saves for lint and the docs.

Offline code (lint, conversion, the site) reads the saved file through lessons.nodes;
only this reads it from a running ComfyUI, which is why it lives here.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from atelier.comfy.client import ComfyClient
from atelier.lessons.nodes import AUDIO_PROBES, NodeList, NodeSource, custom_node_folders, strip
from atelier.lessons.pin import CustomNode
from atelier.messages import AtelierError


def folder_name(repository: str) -> str:
    """The folder a custom node is cloned into: its repository's last path part (as ComfyUI-Manager does)."""
    return repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


def _checkout_commit(folder: Path) -> str:
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def _published_repository(folder: Path) -> str:
    """The Repository URL a custom node states in its pyproject.toml (the Comfy Registry's field)."""
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    urls = data.get("project", {}).get("urls", {})
    return str(urls.get("Repository", "")) if isinstance(urls, dict) else ""


def source(folder: str, nodes: list[str], pinned: list[CustomNode], comfyui: Path | None) -> NodeSource:
    """Where a custom node's entries came from: the pin names its repository; the checkout that ComfyUI
    loaded (when `comfyui` is given) says which commit it really was, and where the pin lacks the node,
    its pyproject.toml says where it is published."""
    pin = next((node for node in pinned if folder_name(node.repository) == folder), None)
    checkout = comfyui / "custom_nodes" / folder if comfyui else None
    repository = pin.repository if pin else _published_repository(checkout) if checkout else ""
    commit = (_checkout_commit(checkout) if checkout and checkout.is_dir() else "") or (pin.commit if pin else "")
    return NodeSource(folder, repository, commit, tuple(nodes))


def dump(
    server: str,
    path: Path,
    token: str | None = None,
    pinned: list[CustomNode] | None = None,
    comfyui: Path | None = None,
) -> NodeList:
    """Read `/object_info` from a running ComfyUI and write the stripped node list.

    `pinned` (the semester pin's custom nodes) and `comfyui` (the checkout that server runs)
    say where each custom node's entries came from.
    """
    client = ComfyClient(server, token=token)
    object_info = client.get_json("/object_info")
    version = client.get_json("/system_stats").get("system", {}).get("comfyui_version", "unknown")
    missing = [name for name in AUDIO_PROBES if name not in object_info]
    if missing:
        raise AtelierError("node-list-no-audio", url=server, nodes=", ".join(missing))
    nodes, api_nodes = strip(object_info)
    sources = tuple(
        source(folder, types, pinned or [], comfyui) for folder, types in custom_node_folders(object_info).items()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"comfyui_version": version, "api_nodes": api_nodes, "nodes": nodes}
    if sources:
        data["custom_nodes"] = {
            s.folder: {"repository": s.repository, "commit": s.commit, "nodes": list(s.nodes)} for s in sources
        }
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return NodeList(version, nodes, api_nodes, sources)
