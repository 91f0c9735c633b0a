"""Draw a workflow's node graph as SVG, from the positions saved in workflow.json.

The lesson page shows the same layout the student sees on the canvas: nodes where
ComfyUI puts them, wires between the same slots, and the notes beside them. It is
drawn from the file at build time, so the picture cannot go stale.
"""

from __future__ import annotations

import textwrap
from html import escape
from typing import Any

from atelier.lessons.modules import CANVAS_ONLY, node_title

TITLE_HEIGHT = 30
SLOT_HEIGHT = 20
COLOURS = {  # wire colours by type, as on the canvas
    "MODEL": "#8e7cc3",
    "CLIP": "#d4aa00",
    "VAE": "#e06666",
    "CONDITIONING": "#d78b2b",
    "LATENT": "#c27ba0",
    "IMAGE": "#3d85c6",
    "MASK": "#38761d",
    "AUDIO": "#3a7bd5",
}


def _slot_y(node: dict[str, Any], index: int) -> float:
    return node["pos"][1] + (index + 0.7) * SLOT_HEIGHT


def _lines(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.replace("**", "").replace("*", "").split("\n"):
        paragraph = paragraph.lstrip("#").strip()
        lines += textwrap.wrap(paragraph, width) or [""]
    return lines


def describe(workflow: dict[str, Any], display_names: dict[str, str]) -> str:
    """One sentence for the alt text: the nodes in the order ComfyUI runs them."""
    nodes = [n for n in workflow.get("nodes", []) if n.get("type") not in CANVAS_ONLY]
    nodes.sort(key=lambda n: (n.get("order", 0), n.get("id", 0)))
    notes = sum(1 for n in workflow.get("nodes", []) if n.get("type") in {"MarkdownNote", "Note"})
    chain = " → ".join(node_title(n, display_names) for n in nodes)
    return f"The workflow's nodes, in the order they run: {chain}; with {notes} notes beside them."


def draw(
    workflow: dict[str, Any], display_names: dict[str, str], title: str, values: dict[str, dict[str, Any]] | None = None
) -> str:
    """SVG of the canvas; `values` (node id -> widget values by name, from the API form) label the settings."""
    nodes = {n["id"]: n for n in workflow.get("nodes", []) if "pos" in n and "size" in n}
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>'
    left = min(n["pos"][0] for n in nodes.values()) - 20
    top = min(n["pos"][1] for n in nodes.values()) - TITLE_HEIGHT - 20
    right = max(n["pos"][0] + n["size"][0] for n in nodes.values()) + 20
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes.values()) + 20
    width, height = right - left, bottom - top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left:.0f} {top:.0f} {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" font-family="system-ui, sans-serif" font-size="14">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#202020"/>',
    ]
    for link in workflow.get("links", []):
        source, target = nodes.get(link[1]), nodes.get(link[3])
        if source is None or target is None:
            continue
        x1, y1 = source["pos"][0] + source["size"][0], _slot_y(source, link[2])
        x2, y2 = target["pos"][0], _slot_y(target, link[4])
        bend = max(40.0, abs(x2 - x1) / 2)
        colour = COLOURS.get(str(link[5]), "#999999")
        out.append(
            f'<path d="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}" '
            f'stroke="{colour}" stroke-width="3" fill="none"/>'
        )
    for node in nodes.values():
        x, y = node["pos"]
        w, h = node["size"]
        note = node.get("type") in {"MarkdownNote", "Note"}
        fill, head = (
            (node.get("bgcolor", "#653"), node.get("color", "#432"))
            if note
            else ("#353535", node.get("color", "#2b2b2b"))
        )
        out.append(
            f'<rect x="{x}" y="{y - TITLE_HEIGHT}" width="{w}" '
            f'height="{h + TITLE_HEIGHT}" rx="8" fill="{fill}" stroke="#111"/>'
        )
        out.append(f'<rect x="{x}" y="{y - TITLE_HEIGHT}" width="{w}" height="{TITLE_HEIGHT}" rx="8" fill="{head}"/>')
        if note:
            text = str((node.get("widgets_values") or [""])[0])
            lines = _lines(text, max(20, int(w / 7.5)))
            heading = lines[0] if lines else "Note"
            out.append(f'<text x="{x + 10}" y="{y - 10}" fill="#ffffff" font-weight="bold">{escape(heading)}</text>')
            for i, line in enumerate(lines[1:]):
                if 22 + i * 18 > h - 4:
                    break
                out.append(f'<text x="{x + 10}" y="{y + 22 + i * 18}" fill="#ffffff">{escape(line)}</text>')
            continue
        out.append(
            f'<text x="{x + 10}" y="{y - 10}" fill="#ffffff" '
            f'font-weight="bold">{escape(node_title(node, display_names))}</text>'
        )
        for i, slot in enumerate(node.get("inputs", [])):
            out.append(
                f'<circle cx="{x}" cy="{_slot_y(node, i):.0f}" r="5" '
                f'fill="{COLOURS.get(str(slot.get("type")), "#999999")}"/>'
            )
            out.append(
                f'<text x="{x + 12}" y="{_slot_y(node, i) + 5:.0f}" '
                f'fill="#dddddd">{escape(str(slot.get("name")))}</text>'
            )
        rows = max(len(node.get("inputs", [])), len(node.get("outputs", [])))
        settings = [(k, v) for k, v in (values or {}).get(str(node["id"]), {}).items() if not isinstance(v, list)]
        for i, (name, value) in enumerate(settings):
            label = f"{name}: {value}".replace("\n", " ")
            limit = max(12, int(w / 7.5))
            label = label if len(label) <= limit else label[: limit - 1] + "…"
            out.append(
                f'<text x="{x + 12}" y="{y + (rows + i + 0.7) * SLOT_HEIGHT + 10:.0f}" '
                f'fill="#bbbbbb">{escape(label)}</text>'
            )
        for i, slot in enumerate(node.get("outputs", [])):
            cx = x + w
            out.append(
                f'<circle cx="{cx}" cy="{_slot_y(node, i):.0f}" r="5" '
                f'fill="{COLOURS.get(str(slot.get("type")), "#999999")}"/>'
            )
            out.append(
                f'<text x="{cx - 12}" y="{_slot_y(node, i) + 5:.0f}" fill="#dddddd" '
                f'text-anchor="end">{escape(str(slot.get("name")))}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)
