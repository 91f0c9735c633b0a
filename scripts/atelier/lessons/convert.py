"""UI-format workflow -> API prompt, with comfy-cli's converter.

The canvas saves a graph with positions and a flat list of widget values; ComfyUI's
/prompt takes a mapping of node id -> inputs by name. comfy-cli's converter does this
mapping against the node list; we don't write a second one. It can put a widget
value into the wrong input, so lint type-checks what comes back before anything runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from comfy_cli.workflow_to_api import WorkflowConversionError, convert_ui_to_api

from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _seeded(node_list: NodeList, node_type: str) -> bool:
    """Whether the node has a seed widget followed, on the canvas, by its 'control after generate' one."""
    inputs = node_list.nodes.get(node_type, {}).get("input", {}).get("required", {})
    return any(
        name in ("seed", "noise_seed")
        or (len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("control_after_generate"))
        for name, spec in inputs.items()
        if spec and spec[0] == "INT"
    )


def _older_controls(workflow: dict[str, Any], node_list: NodeList) -> dict[str, Any]:
    """A copy where 'control after generate' saved as true/false (older ComfyUI templates) reads as
    'randomize'/'fixed', the words the converter knows; other values are left as they are."""
    nodes = []
    for node in workflow.get("nodes", []):
        values = node.get("widgets_values") if isinstance(node, dict) else None
        if isinstance(values, list) and _seeded(node_list, str(node.get("type"))):
            values = list(values)
            for index in range(1, len(values)):
                if (
                    isinstance(values[index], bool)
                    and isinstance(values[index - 1], int)
                    and not isinstance(values[index - 1], bool)
                ):
                    values[index] = "randomize" if values[index] else "fixed"
                    break
            node = {**node, "widgets_values": values}
        nodes.append(node)
    return {**workflow, "nodes": nodes}


def to_api(workflow: dict[str, Any], node_list: NodeList, source: Path) -> tuple[dict[str, Any], list[str]]:
    """(API prompt, the converter's warnings). Raises AtelierError when it cannot convert."""
    workflow = _older_controls(workflow, node_list)
    logger = logging.getLogger("comfy_cli.workflow_to_api")
    collect = _Collect()
    logger.addHandler(collect)
    propagate, logger.propagate = logger.propagate, False  # library code stays quiet
    try:
        return convert_ui_to_api(workflow, node_list.nodes), collect.messages
    except (WorkflowConversionError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise AtelierError("workflow-convert", file=source, problem=str(err) or type(err).__name__) from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate
