"""Custom nodes that read models from ComfyUI's own models folder find them in the session's store.

ComfyUI's loaders find models through extra_model_paths.yaml, which points at the shared
store. A few custom nodes skip that and join `folder_paths.models_dir` with a folder of
their own when they load a model (Depth Anything V2's loader reads
`<models_dir>/depthanything`, and downloads from the web when the file is missing).
ComfyUI itself reads `models_dir` only while `folder_paths` is imported, to build its
folder lists, so pointing it at the session's store afterwards changes only where such
nodes look: the shared store in a student's session, the test models in a smoke check,
never the install's own ComfyUI/models, which no maintainer fills.

Standalone like the gate: ComfyUI's Python imports it, so it uses nothing from atelier.
"""

from __future__ import annotations

import logging
import os

import folder_paths

NODE_CLASS_MAPPINGS: dict = {}  # a custom node package that adds no nodes
NODE_DISPLAY_NAME_MAPPINGS: dict = {}

_store = os.environ.get("ATELIER_MODEL_STORE")
if _store:
    folder_paths.models_dir = _store
    logging.info("atelier: custom nodes' own model folders are read from %s", _store)
