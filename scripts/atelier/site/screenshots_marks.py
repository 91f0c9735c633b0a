"""Numbered marks, phone-width crops and the test-model label, drawn into the screenshots at capture time.

The Start here pages say "click the Workflows icon (1)": the number must sit on that very
element in the picture, so each mark is placed from the bounding box of the element the
frontend shows, found by ComfyUI's own classes, labels and node titles. An element that
cannot be found stops the run with its name: a mark is never put at a guessed place.
A 1280 px picture shrinks to a third on a phone, so each marked picture also gets a crop
around its marks at twice the pixels. A picture made with random-weight test models shows
noise where the student's picture will be; it says so on the picture itself, so the words
survive a phone layout and a right-click save.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

Rect = tuple[float, float, float, float]  # x, y, width, height, in the picture's CSS pixels

CROP_WIDTH = 390  # CSS px: at most a phone's width, so the crop is shown at least at its own size
CROP_SCALE = 2  # device pixels per CSS pixel in a crop
PAD = 28  # CSS px of the window kept around the marked elements in a crop
MIN_WIDTH = 320  # CSS px: enough of the window around a small button to see where it is
BADGE = 26  # CSS px: the circled number's diameter
TEST_LABEL = "Test model: noise, not a real picture"
MARK_COLOUR = (255, 214, 10)  # the marks' yellow: reads on ComfyUI's dark grey and on white
LABEL_COLOUR = (0, 0, 0)  # the label's ground


@dataclass(frozen=True)
class Target:
    """An element the page text names: how to find it, and how the page calls it."""

    called: str  # the page's words for it, e.g. "the Workflows button"
    css: str = ""  # a selector for a DOM element (its label is read from `attribute`)
    attribute: str = "aria-label"
    treeitem: str = ""  # an entry of the Workflows panel, by its accessible name
    node: str = ""  # a node on the canvas, by its type (its label is the node's title)
    place: str = "corner"  # where the number goes: left, right, below-right (outside), corner (top-right, inside)


# Each number sits beside its element where it hides none of the element's words.
WORKFLOWS = Target("the Workflows button in the left sidebar", css="button.workflows-tab-button", place="below-right")
MENU = Target(
    "the ComfyUI logo (the menu)", css=".comfyui-logo-wrapper:has(img[alt])", attribute="img-alt", place="below-right"
)
RUN = Target("the blue Run button", css="[data-testid=queue-button] .p-splitbutton-button", place="left")
SAVE_IMAGE = Target("the Save Image node", node="SaveImage")
# Which marks each picture gets, in number order; the page text refers to them as (1), (2), ...
MARKS: dict[str, tuple[Target, ...]] = {
    "tour-canvas.png": (WORKFLOWS, MENU, RUN),
    "tour-workflows.png": (WORKFLOWS, Target("the lesson's workflow", treeitem="{lesson}.json", place="right")),
    "tour-run.png": (RUN,),
    "first-image-done.png": (RUN, SAVE_IMAGE),
    "saved-next-session.png": (Target("the workflow saved in an earlier session", treeitem="{saved}", place="right"),),
}
# Pictures that show what ComfyUI made, by the node that shows it: labelled when the models are test ones.
OUTPUTS: dict[str, str] = {"first-image-done.png": "SaveImage"}

NODE_JS = """(type) => {
    const node = window.app.graph._nodes.find(n => n.type === type);
    if (!node) return null;
    const canvas = window.app.canvas, rect = canvas.canvas.getBoundingClientRect();
    const [x, y, w, h] = node.boundingRect;
    const [left, ttop] = canvas.ds.convertOffsetToCanvas([x, y]);
    const s = canvas.ds.scale;
    const title = node.pos[1] - y;  // the box starts at the title bar, the node's own y below it
    const preview = (node.widgets || []).find(w => w.name === '$$canvas-image-preview');
    const above = (node.widgets || []).filter(w => w !== preview)
        .map(w => (w.last_y ?? w.y ?? 0) + (w.computedHeight || 24));
    const top = title + (preview ? (preview.last_y ?? preview.y) : Math.max(0, ...above));
    const area = (preview ? preview.computedHeight : h - top) - 14;  // less the "512 × 512" line under it
    const img = (node.imgs || [])[0];
    let picture = null;
    if (img && img.naturalWidth) {  // as the node draws it: no larger than it is, fitted, centred
        const k = Math.min(w / img.naturalWidth, area / img.naturalHeight, 1);
        const pw = img.naturalWidth * k, ph = img.naturalHeight * k;
        picture = [rect.x + left + (w - pw) / 2 * s, rect.y + ttop + (top + (area - ph) / 2) * s, pw * s, ph * s];
    }
    return {label: node.title, box: [rect.x + left, rect.y + ttop, w * s, h * s], picture};
}"""
DRAW_JS = """([marks, label]) => {
    const layer = document.createElement('div');
    layer.id = 'atelier-marks';
    layer.style.cssText = 'position:fixed;inset:0;z-index:2147483647;pointer-events:none;';
    document.body.appendChild(layer);
    const put = (css) => { const e = document.createElement('div'); \
e.style.cssText = 'position:absolute;' + css; layer.appendChild(e); return e; };
    for (const m of marks) {
        const [x, y, w, h] = m.page_box;
        put(`left:${x - 3}px;top:${y - 3}px;width:${w}px;height:${h}px;border:3px solid rgb(${m.colour});` +
            'border-radius:6px;box-shadow:0 0 0 1px #000, inset 0 0 0 1px #000;');
        const b = put(`left:${m.page_at[0] - m.size / 2}px;top:${m.page_at[1] - m.size / 2}px;width:${m.size}px;` +
            `height:${m.size}px;border-radius:50%;background:rgb(${m.colour});color:#000;border:2px solid #000;` +
            'box-shadow:0 0 0 2px #fff;box-sizing:border-box;display:flex;align-items:center;justify-content:center;' +
            'font:700 15px/1 system-ui, sans-serif;');
        b.textContent = String(m.number);
    }
    if (label) {
        const [x, y, w] = label.page_box;
        const e = put(`left:${x}px;top:${y}px;width:${w}px;box-sizing:border-box;padding:6px 8px;background:#000;` +
            'color:#fff;border:2px solid #fff;border-radius:4px;text-align:center;\
font:700 15px/1.25 system-ui, sans-serif;');
        e.textContent = label.text;
        e.style.top = `${y - e.getBoundingClientRect().height / 2}px`;
        const r = e.getBoundingClientRect();
        return [r.x, r.y, r.width, r.height];
    }
    return null;
}"""


class MarkMissing(Exception):
    """An element a mark points at is not on the page (the frontend changed): no mark is guessed."""


@dataclass
class Mark:
    number: int
    label: str  # the element's own label on the page (aria-label, alt text, entry name, node title)
    called: str
    box: Rect  # the element, in the picture's pixels (CSS px)
    at: tuple[float, float]  # the circled number's centre, in the picture's pixels

    def record(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "label": self.label,
            "element": self.called,
            "box": [round(v, 1) for v in self.box],
            "at": [round(v, 1) for v in self.at],
        }


@dataclass
class Marked:
    """What one marked picture holds, for the manifest."""

    marks: list[Mark]
    area: Rect  # the picture's place in the window (the whole window, or the clip it was taken with)
    label: Rect | None = None  # the test-model label, in the picture's pixels
    regions: list[Rect] | None = None  # the crop's pieces, in the picture's pixels, top to bottom


def _find(page: Any, target: Target, words: dict[str, str]) -> tuple[str, Rect]:
    """(the element's label, its box in the window), or MarkMissing naming it."""
    if target.node:
        found = page.evaluate(NODE_JS, target.node)
        if not found:
            raise MarkMissing(f"{target.called} (a node of type {target.node}) is not on the canvas")
        return str(found["label"]), tuple(found["box"])
    if target.treeitem:
        name = target.treeitem.format(**words)
        locator = page.locator(".workflows-sidebar-tab").get_by_role("treeitem", name=name, exact=True)
        label = name
    else:
        locator = page.locator(target.css)
        label = ""
    box = locator.first.bounding_box() if locator.count() else None
    if not box or box["width"] <= 0:
        where = f"'{name}' in the Workflows panel" if target.treeitem else target.css
        raise MarkMissing(f"{target.called} ({where}) is not on the page")
    if not label:
        attribute = target.attribute
        if attribute == "img-alt":
            label = locator.first.locator("img[alt]").first.get_attribute("alt") or ""
        else:
            label = locator.first.get_attribute(attribute) or locator.first.inner_text().strip()
    return label, (box["x"], box["y"], box["width"], box["height"])


def _badge(box: Rect, area: Rect, place: str) -> tuple[float, float]:
    """The number's centre, by `place`, moved in so the whole circle shows in the picture."""
    x, y, w, h = box
    half = BADGE / 2 + 2
    at = {
        "left": (x - half - 2, y + h / 2),
        "right": (x + w + half + 2, y + h / 2),
        "below-right": (x + w + 4, y + h + 4),
    }.get(place, (x + w - 2, y + 2))
    ax, ay, aw, ah = area
    return (min(max(at[0], ax + half), ax + aw - half), min(max(at[1], ay + half), ay + ah - half))


def find(page: Any, name: str, area: Rect, words: dict[str, str]) -> list[tuple[Mark, Rect]]:
    """The marks of picture `name`, each with its element's box in the window."""
    found = []
    for number, target in enumerate(MARKS.get(name, ()), start=1):
        label, box = _find(page, target, words)
        at = _badge(box, area, target.place)
        local = (box[0] - area[0], box[1] - area[1], box[2], box[3])
        found.append((Mark(number, label, target.called, local, (at[0] - area[0], at[1] - area[1])), box))
    return found


def draw(page: Any, name: str, area: Rect, words: dict[str, str], label: bool) -> Marked:
    """Put picture `name`'s marks (and, for a picture of a test model's output, the label) over the page."""
    found = find(page, name, area, words)
    marks = [
        {
            "number": m.number,
            "page_box": box,
            "size": BADGE,
            "colour": ",".join(map(str, MARK_COLOUR)),
            "page_at": (m.at[0] + area[0], m.at[1] + area[1]),
        }
        for m, box in found
    ]
    shown = None
    if label and name in OUTPUTS:
        node = page.evaluate(NODE_JS, OUTPUTS[name])
        if not node or not node["picture"]:
            raise MarkMissing(f"the picture in the node of type {OUTPUTS[name]} is not on the canvas")
        x, y, w, h = node["picture"]
        width = max(w * 0.92, 150.0)
        shown = {"text": TEST_LABEL, "page_box": (x + (w - width) / 2, y + h / 2, width)}  # centred on it in JS
    box = page.evaluate(DRAW_JS, [marks, shown])
    if shown and not (box and box[2] > 0 and box[3] > 0):
        raise MarkMissing("the test model's label could not be drawn over the Save Image node's picture")
    local = (box[0] - area[0], box[1] - area[1], box[2], box[3]) if box else None
    return Marked([m for m, _ in found], area, local)


def clear(page: Any) -> None:
    page.evaluate("() => document.getElementById('atelier-marks')?.remove()")


def _span(low: float, high: float, width: float, start: float, end: float) -> tuple[float, float]:
    """[low, high] widened to `width` around its middle, moved (not cut) to lie within [start, end]."""
    middle = (low + high) / 2
    left = middle - width / 2
    left = min(max(left, start), end - width)
    return max(left, start), min(width, end - start)


def regions(marked: Marked) -> list[Rect]:
    """The crop's pieces: marks near each other share one piece at most CROP_WIDTH wide; pieces stack."""
    _, _, aw, ah = marked.area
    boxes = []
    for mark in marked.marks:
        x, y, w, h = mark.box
        r = BADGE / 2 + 2
        ax, ay = mark.at
        left, top = min(x, ax - r), min(y, ay - r)
        boxes.append((left, top, max(x + w, ax + r) - left, max(y + h, ay + r) - top))
    if marked.label:  # it lies on the output's node: it joins that node's piece
        boxes.append(marked.label)
    groups: list[Rect] = []
    for box in boxes:
        if groups and _union(groups[-1], box)[2] + 2 * PAD <= CROP_WIDTH:
            groups[-1] = _union(groups[-1], box)
        else:
            groups.append(box)
    pieces = []
    for x, y, w, h in groups:
        width = min(CROP_WIDTH, max(MIN_WIDTH, w + 2 * PAD))
        left, width = _span(x, x + w, width, 0, aw)
        top, height = _span(y, y + h, h + 2 * PAD, 0, ah)
        pieces.append((left, top, width, height))
    return pieces


def _union(a: Rect, b: Rect) -> Rect:
    left, top = min(a[0], b[0]), min(a[1], b[1])
    return left, top, max(a[0] + a[2], b[0] + b[2]) - left, max(a[1] + a[3], b[1] + b[3]) - top


def crop(page: Any, marked: Marked) -> bytes:
    """The crop: each piece taken at CROP_SCALE (the page's device scale), stacked with a dark gap."""
    from PIL import Image

    marked.regions = regions(marked)
    ax, ay = marked.area[0], marked.area[1]
    parts = []
    for x, y, w, h in marked.regions:
        raw = page.screenshot(
            clip={"x": x + ax, "y": y + ay, "width": w, "height": h},
            scale="device",
            animations="disabled",
            caret="hide",
        )
        parts.append(Image.open(io.BytesIO(raw)).convert("RGB"))
    gap = 6 * CROP_SCALE  # a grey stripe between pieces: they are not one continuous view
    sheet = Image.new(
        "RGB", (max(p.width for p in parts), sum(p.height for p in parts) + gap * (len(parts) - 1)), (136, 136, 136)
    )
    top = 0
    for part in parts:
        sheet.paste(part, (0, top))
        top += part.height + gap
    out = io.BytesIO()
    sheet.save(out, "PNG")
    return out.getvalue()


def crop_name(name: str) -> str:
    return name.removesuffix(".png") + "-crop.png"


def words_for(marked: Marked) -> str:
    """The marks in words, for the alt text: "(1) 'Workflows (w)', the Workflows button ..."."""
    return "; ".join(f"({m.number}) '{m.label}', {m.called}" for m in marked.marks)


def crop_alt(marked: Marked, test_label: bool) -> str:
    pieces = len(marked.regions or [])
    where = "a close-up" if pieces == 1 else f"{pieces} close-ups, one above the other,"
    label = f" The picture in it carries the words '{TEST_LABEL}'." if test_label and marked.label else ""
    return f"For small screens, {where} of the same window with its numbered marks: {words_for(marked)}.{label}"


def record(marked: Marked) -> dict[str, Any]:
    """One picture's marks, crop and label as the manifest keeps them (boxes in the picture's pixels)."""
    entry: dict[str, Any] = {"marks": [m.record() for m in marked.marks]}
    if marked.regions:
        entry["crop"] = {"scale": CROP_SCALE, "regions": [[round(v, 1) for v in r] for r in marked.regions]}
    if marked.label:
        entry["test_model_label"] = {"text": TEST_LABEL, "box": [round(v, 1) for v in marked.label]}
    return entry
