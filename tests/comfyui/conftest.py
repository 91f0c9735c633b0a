"""A real ComfyUI for the `comfyui` tier, started the way the tools start it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atelier.server import ComfyServer, find_comfyui


@pytest.fixture(scope="session")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    checkout, python = find_comfyui()
    with ComfyServer(checkout, python, tmp_path_factory.mktemp("comfyui"), cpu=True) as server:
        yield server
