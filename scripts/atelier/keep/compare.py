"""Comparing outputs: a workbook, a CSV and an HTML contact sheet from their settings.

A student learns what a knob does by seeing twenty variations side by side. All three
documents show one output per row (or cell) with only the settings that differ brought
forward; the rest are listed once as "same in every output". The contact sheet is an
X/Y grid by two chosen settings. Everything written is local: thumbnails sit beside the
documents, and the full-size links point at the original files.

A class's wall, the same comparison over a course folder, is in classwall.py.
"""

from __future__ import annotations

import csv
import hashlib
import html
import os
import urllib.parse
from collections.abc import Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import xlsxwriter
from PIL import Image

from atelier.keep import ledger
from atelier.keep.outputs import CORE, OK, Output, read_output
from atelier.messages import AtelierError

LABELS = {
    "module": "Lesson",
    "model": "Model",
    "seed": "Seed",
    "steps": "Steps",
    "cfg": "CFG",
    "sampler": "Sampler",
    "scheduler": "Scheduler",
    "size": "Size",
    "positive": "Positive prompt",
    "negative": "Negative prompt",
}
SHOWN = ("module", "model", "seed", "steps", "cfg", "sampler", "scheduler", "size", "positive", "negative")
AXES_FIRST = ("cfg", "seed", "steps", "sampler", "scheduler", "model", "size", "module", "positive", "negative")
THUMB = 256  # pixels, longest side
WORKBOOK, CSV_FILE, SHEET = "comparison.xlsx", "comparison.csv", "contact-sheet.html"


@dataclass
class Item:
    path: Path  # the original file
    output: Output
    thumb: Path | None = None
    thumb_size: tuple[int, int] = (0, 0)  # read once here, used by the workbook and the contact sheet
    student: str = ""  # on a class's wall: whose work it is


@dataclass
class Table:
    items: list[Item]  # the outputs compared, ComfyUI settings and all
    columns: list[str]  # core names and "Title.input" keys, in display order
    varying: set[str]
    same: dict[str, Any]
    skipped: list[Item] = field(default_factory=list)  # found but without settings to compare
    aliases: dict[str, str] = field(default_factory=dict)  # "KSampler.seed" -> "seed"


def label(key: str) -> str:
    return LABELS.get(key, key)


def value(output: Output, key: str) -> Any:
    if key == "size":
        return f"{output.width}×{output.height}" if output.width and output.height else None
    if key in CORE:
        return output.settings.get(key)
    return output.params.get(key)


def gather(paths: list[Path], on_scan: Any = None) -> list[Item]:
    """Folders are scanned into their ledger first; single files are read as they are."""
    items: list[Item] = []
    for path in paths:
        if path.is_dir():
            ledger.scan(path, on_scan)
            items += [Item(path / o.file, o) for o in ledger.rows(path)]
        elif path.is_file():
            items.append(Item(path, read_output(path)))
        else:
            raise AtelierError("compare-nothing", paths=path)
    return items


def confine(paths: list[Path], folder: Path) -> list[Path]:
    """`paths`, each checked to lie inside `folder` once links are followed: the Compare page passes on what
    a browser sent, and a `..`, an absolute path or a link that leads elsewhere must not be read."""
    if not paths:
        raise AtelierError("compare-none-picked")
    root = folder.resolve()
    for path in paths:
        if not path.resolve().is_relative_to(root):
            raise AtelierError("compare-outside", path=path, folder=folder)
    return paths


def build(items: list[Item]) -> Table:
    """Which settings to show: the core ones found, then any other that differs."""
    compared = [i for i in items if i.output.status == OK]
    if not compared:
        raise AtelierError("compare-nothing", paths=", ".join(str(i.path) for i in items[:3]) or "nothing given")
    outputs = [i.output for i in compared]
    shown = [k for k in SHOWN if any(value(o, k) is not None for o in outputs)]
    params = sorted(
        {k for o in outputs for k in o.params},
        key=lambda k: list(outputs[0].params).index(k) if k in outputs[0].params else len(outputs[0].params),
    )
    # A widget that is one of the core settings (KSampler.seed is "seed") is not shown twice.
    aliases = {p: k for p in params for k in shown if all(value(o, p) == value(o, k) for o in outputs)}
    params = [p for p in params if p not in aliases]
    varying = {k for k in shown + params if len({repr(value(o, k)) for o in outputs}) > 1}
    columns = shown + [p for p in params if p in varying]
    same = {k: value(outputs[0], k) for k in shown + params if k not in varying and value(outputs[0], k) is not None}
    return Table(compared, columns, varying, same, [i for i in items if i.output.status != OK], aliases)


def knob(table: Table, name: str | None, taken: str | None = None) -> str | None:
    """The column a --by/--vs name means: a core name, "Title.input", or an input name alone."""
    if name is None:
        free = [k for k in AXES_FIRST if k in table.varying and k != taken]
        free += sorted(k for k in table.varying if k not in AXES_FIRST and k != taken)
        return free[0] if free else None
    wanted = name.strip().lower()
    keys = table.columns + list(table.same) + list(table.aliases)
    for key in keys:
        if wanted in (key.lower(), label(key).lower()):
            return table.aliases.get(key, key)
    ends = {table.aliases.get(k, k) for k in keys if k.lower().endswith("." + wanted)}
    if len(ends) == 1:
        return ends.pop()
    raise AtelierError(
        "compare-knob-unknown",
        knob=name,
        choices=", ".join(label(k) for k in sorted(table.varying)) or "none: every output has the same settings",
    )


def ordered_values(values: list[Any]) -> list[Any]:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)
    return sorted(values, key=lambda v: (v is None, v if numbers and v is not None else str(v)))


def _thumb(job: tuple[str, str, str]) -> None:
    """Make one thumbnail (a process of its own when there are many)."""
    source, kind, target = job
    try:
        if kind == "video":
            with av.open(source) as container:
                picture = next(container.decode(video=0)).to_image()
        else:
            picture = Image.open(source)
        picture.draft("RGB", (THUMB, THUMB))  # JPEG photos decode small; others ignore it
        picture = picture.convert("RGB")
        picture.thumbnail((THUMB, THUMB))
        picture.save(target, "JPEG", quality=82)
    except (OSError, ValueError, StopIteration, av.FFmpegError):
        pass  # no thumbnail: the documents link to the file instead


def thumbnails(items: list[Item], folder: Path, workers: int | None = None) -> None:
    """A JPEG thumbnail for each picture and video, reused while the original is unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str, str]] = []
    for item in items:
        if item.output.kind not in ("image", "video"):
            continue
        key = f"{item.path.resolve()}:{item.output.bytes}:{item.output.modified}"
        item.thumb = folder / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.jpg"
        if not item.thumb.is_file():
            jobs.append((str(item.path), item.output.kind, str(item.thumb)))
    if len(jobs) > 16 and (workers or os.cpu_count() or 1) > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_thumb, jobs, chunksize=16))
    else:
        for job in jobs:
            _thumb(job)
    for item in items:
        if item.thumb and not item.thumb.is_file():  # not a picture after all: shown as a link
            item.thumb = None
        elif item.thumb:
            with Image.open(item.thumb) as thumb:
                item.thumb_size = thumb.size


def _cell(value: Any) -> Any:
    """Numbers stay numbers, except seeds a spreadsheet would round (it keeps 15 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def write_workbook(table: Table, path: Path) -> Path:
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"title": "Atelier comparison", "comments": "Made by atelier compare"})
    head = book.add_format({"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"})
    head_varies = book.add_format(
        {"bold": True, "bottom": 1, "text_wrap": True, "valign": "top", "bg_color": "#FFD966"}
    )
    plain = book.add_format({"valign": "top", "text_wrap": True})
    varies = book.add_format({"valign": "top", "text_wrap": True, "bg_color": "#FFF2CC"})
    link = book.add_format({"valign": "top", "font_color": "#1F4E79", "underline": 1})
    sheet = book.add_worksheet("Outputs")
    lead = _lead(table)
    fixed = ["Picture", *lead, "File"]
    first = len(fixed)  # the first setting's column
    headers = fixed + [label(c) for c in table.columns]
    for col, text in enumerate(headers):
        sheet.write(0, col, text, head_varies if col >= first and table.columns[col - first] in table.varying else head)
    sheet.set_column(0, 0, 20)
    if lead:
        sheet.set_column(1, 1, 18)
    sheet.set_column(first - 1, first - 1, 36)
    for col, key in enumerate(table.columns, first):
        sheet.set_column(col, col, 44 if key in ("positive", "negative") else 14)
    for row, item in enumerate(table.items, 1):
        sheet.set_row(row, 100)
        if item.thumb:
            scale = 128 / max(item.thumb_size)
            sheet.insert_image(
                row,
                0,
                str(item.thumb),
                {"x_scale": scale, "y_scale": scale, "x_offset": 4, "y_offset": 4, "object_position": 1},
            )
        # A relative HYPERLINK formula: xlsxwriter's own links turn "/" into "\\", which only Windows follows.
        target = _href(item.path, path.parent).replace('"', '""')
        if lead:
            sheet.write(row, 1, item.student, plain)
        sheet.write_formula(
            row,
            first - 1,
            f'=HYPERLINK("{target}","{item.output.file.replace(chr(34), chr(39))}")',
            link,
            item.output.file,
        )
        for col, key in enumerate(table.columns, first):
            cell = _cell(value(item.output, key))
            sheet.write(row, col, "" if cell is None else cell, varies if key in table.varying else plain)
    sheet.freeze_panes(1, first)
    sheet.autofilter(0, 0, len(table.items), len(headers) - 1)
    same = book.add_worksheet("Same in all")
    same.write_row(0, 0, ["Setting", "Value"], head)
    same.set_column(0, 0, 36)
    same.set_column(1, 1, 60)
    for row, (key, setting) in enumerate(table.same.items(), 1):
        same.write_row(row, 0, [label(key), _cell(setting)], plain)
    if table.skipped:
        skipped = book.add_worksheet("Not compared")
        skipped.write_row(0, 0, [*_lead(table), "File", "Status", "Why"], head)
        skipped.set_column(0, 3, 40)
        for row, item in enumerate(table.skipped, 1):
            whose = [item.student] if _lead(table) else []
            skipped.write_row(row, 0, [*whose, str(item.path), item.output.status, item.output.note], plain)
    book.close()
    return path


def _lead(table: Table) -> list[str]:
    """The columns before File: Student on a class's wall, none for one person's work."""
    return ["Student"] if any(i.student for i in table.items + table.skipped) else []


def write_csv(table: Table, path: Path) -> Path:
    """The same table as the workbook's first sheet; a BOM so Excel reads the text as UTF-8."""
    lead = _lead(table)
    with path.open("w", newline="", encoding="utf-8-sig") as handle:
        out = csv.writer(handle)
        out.writerow([*lead, "File"] + [label(c) for c in table.columns])
        for item in table.items:
            whose = [item.student] if lead else []
            out.writerow(
                [*whose, item.output.file] + ["" if (v := value(item.output, c)) is None else v for c in table.columns]
            )
    return path


def _href(target: Path, base: Path) -> str:
    return urllib.parse.quote(Path(os.path.relpath(target.resolve(), base.resolve())).as_posix())


def figure_html(item: Item, table: Table, axes: Collection[str | None], base: Path) -> str:
    """One output in its cell, with the settings that differ written under it (but for `axes`, which the grid says)."""
    full = _href(item.path, base)
    name = html.escape(item.output.file)
    if item.output.kind == "sound":
        media = f'<audio controls preload="none" src="{full}"></audio>'
    elif item.thumb:
        width, height = item.thumb_size
        media = (
            f'<a href="{full}"><img src="{_href(item.thumb, base)}" width="{width}" height="{height}" '
            f'alt="{name}" loading="lazy"></a>'
        )
    else:
        media = f'<a class="file" href="{full}">Open {name}</a>'
    rows = "".join(
        f"<dt>{html.escape(label(k))}</dt><dd>{html.escape(str(value(item.output, k)))}</dd>"
        for k in table.columns
        if k in table.varying and k not in axes
    )
    return f'<figure>{media}<figcaption><span class="name">{name}</span><dl>{rows}</dl></figcaption></figure>'


STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; background: #fff; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: .5rem; vertical-align: top; text-align: left; }
thead th, tbody th { background: #f1f1f1; }
figure { margin: 0 0 .75rem; max-width: 260px; }
img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 13px; }
.name { word-break: break-all; color: #444; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 0 .5rem; margin: .25rem 0 0; }
dt { font-weight: 600; } dd { margin: 0; }
a { color: #1f4e79; }
"""


def write_sheet(table: Table, path: Path, by: str | None, vs: str | None, title: str) -> Path:
    """The X/Y grid: `by` across, `vs` down, every output in its cell."""
    base = path.parent
    xs = (
        ordered_values(list({repr(value(i.output, by)): value(i.output, by) for i in table.items}.values()))
        if by
        else [None]
    )
    ys = (
        ordered_values(list({repr(value(i.output, vs)): value(i.output, vs) for i in table.items}.values()))
        if vs
        else [None]
    )
    corner = f"{label(vs)} ↓ · {label(by)} →" if by and vs else (label(by) + " →" if by else "")
    head = "".join(f'<th scope="col">{html.escape(str(x))}</th>' for x in xs)
    cells_of: dict[tuple[str, str], list[Item]] = {}
    for item in table.items:
        place = (repr(value(item.output, by)) if by else "", repr(value(item.output, vs)) if vs else "")
        cells_of.setdefault(place, []).append(item)
    body = []
    for y in ys:
        cells = []
        for x in xs:
            here = cells_of.get((repr(x) if by else "", repr(y) if vs else ""), [])
            cells.append("<td>" + "".join(figure_html(i, table, (by, vs), base) for i in here) + "</td>")
        row_head = f'<th scope="row">{html.escape(str(y))}</th>' if vs else '<th scope="row">All</th>'
        body.append(f"<tr>{row_head}{''.join(cells)}</tr>")
    axes = f"Across: {label(by)}." if by else "Every output has the same settings."
    axes += f" Down: {label(vs)}." if vs else ""
    body_html = f"""<p>{len(table.items)} outputs. {html.escape(axes)} Click a picture to open it full size.</p>
<table class="grid"><thead><tr><th scope="col">{html.escape(corner)}</th>{head}</tr></thead>
<tbody>{"".join(body)}</tbody></table>"""
    path.write_text(page_html(table, title, body_html, STYLE), encoding="utf-8")
    return path


def page_html(table: Table, title: str, body: str, style: str) -> str:
    """A whole local page: nothing loads from elsewhere, the shared settings and the files not compared at the end."""
    same = "".join(f"<dt>{html.escape(label(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in table.same.items())
    skipped = "".join(
        f"<li>{html.escape(i.student + ': ' if i.student else '')}{html.escape(str(i.path))}: "
        f"{html.escape(i.output.status)}, {html.escape(i.output.note)}</li>"
        for i in table.skipped
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file:; \
media-src 'self' file:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{style}</style></head>
<body><main>
<h1>{html.escape(title)}</h1>
{body}
<h2>Same in every output</h2><dl class="same">{same}</dl>
{f'<h2>Not compared</h2><ul class="skipped">{skipped}</ul>' if skipped else ""}
</main></body></html>
"""


def compare(
    paths: list[Path], out: Path, by: str | None = None, vs: str | None = None, on_scan: Any = None
) -> tuple[Table, list[Path], tuple[str | None, str | None]]:
    """Write the workbook, the CSV and the contact sheet into `out`."""
    table = build(gather(paths, on_scan))
    x = knob(table, by)
    y = knob(table, vs, taken=x)
    if x and y == x:
        raise AtelierError("compare-same-knob", knob=label(x))
    out.mkdir(parents=True, exist_ok=True)
    thumbnails(table.items, out / "thumbs")
    title = f"Contact sheet: {label(x)} across, {label(y)} down" if x and y else "Contact sheet"
    written = [
        write_workbook(table, out / WORKBOOK),
        write_csv(table, out / CSV_FILE),
        write_sheet(table, out / SHEET, x, y, title),
    ]
    return table, written, (x, y)
