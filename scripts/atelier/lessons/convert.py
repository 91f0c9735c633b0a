"""UI-format workflow -> API prompt, with comfy-cli's converter.

The canvas saves a graph with positions and a flat list of widget values; ComfyUI's
/prompt takes a mapping of node id -> inputs by name. comfy-cli's converter does this
mapping against the node catalogue; we don't write a second one. It can put a widget
value into the wrong input, so lint type-checks what comes back before anything runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from comfy_cli.workflow_to_api import WorkflowConversionError, convert_ui_to_api

from atelier.lessons.nodes import Catalogue
from atelier.messages import AtelierError


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def to_api(workflow: dict[str, Any], catalogue: Catalogue, source: Path) -> tuple[dict[str, Any], list[str]]:
    """(API prompt, the converter's warnings). Raises AtelierError when it cannot convert."""
    logger = logging.getLogger("comfy_cli.workflow_to_api")
    collect = _Collect()
    logger.addHandler(collect)
    propagate, logger.propagate = logger.propagate, False  # library code stays quiet
    try:
        return convert_ui_to_api(workflow, catalogue.nodes), collect.messages
    except (WorkflowConversionError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise AtelierError("workflow-convert", file=source, problem=str(err) or type(err).__name__) from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
