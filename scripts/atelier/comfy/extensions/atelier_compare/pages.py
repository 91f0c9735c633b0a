"""The Compare page's HTML: the list to pick from, the wait, the failure and the result.

Apart from the routes (__init__.py) so that what a student reads is in one place, and is plain
functions of what to show: no request, no folder. Standalone like the rest of the extension.
"""

from __future__ import annotations

import html
from pathlib import PurePosixPath
from urllib.parse import quote

from .folder import COMPARISONS, CSV_FILE, SHEET, WORKBOOK, Found

SHOWN = 120  # outputs listed before "Show all"


def when(stamp: str) -> str:
    """A comparison's folder name as a person reads it: 2026-11-20_14-30-05 is "2026-11-20 at 14:30:05"."""
    day, _, rest = stamp.partition("_")
    parts = rest.split("-")
    return f"{day} at {':'.join(parts[:3])}" + (f" ({parts[3]})" if len(parts) > 3 else "")


STYLE = """
body { font: 16px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem;
       color: #1b1b1b; background: #fff; }
h1 { margin-top: .5rem; } h2 { margin-top: 2rem; }
.problem { border: 2px solid #a4262c; background: #fde7e9; padding: .75rem 1rem; border-radius: 4px; }
fieldset { border: 1px solid #bbb; border-radius: 4px; padding: .75rem 1rem; margin: 1rem 0; }
button, .button { font: inherit; padding: .45rem 1rem; border: 1px solid #1f4e79; border-radius: 4px;
                  background: #1f4e79; color: #fff; cursor: pointer; text-decoration: none; display: inline-block; }
input[type=number] { width: 5rem; font: inherit; } input[type=text] { font: inherit; width: 14rem; }
ul.outputs { list-style: none; padding: 0; display: grid; gap: .75rem;
             grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); }
ul.outputs label { display: block; border: 1px solid #bbb; border-radius: 4px; padding: .4rem; cursor: pointer; }
ul.outputs input:checked + .tile { outline: 3px solid #1f4e79; }
.tile { display: block; } .tile img { display: block; max-width: 100%; height: auto; margin: .25rem 0; }
.name { font-size: 13px; word-break: break-all; color: #333; }
.media { display: block; height: 6rem; background: #f1f1f1; text-align: center; line-height: 6rem; color: #444; }
ul.actions { list-style: none; padding: 0; display: flex; gap: 1rem; flex-wrap: wrap; }
iframe { width: 100%; height: 75vh; border: 1px solid #bbb; }
a { color: #1f4e79; } .button { color: #fff; }
"""


def _document(title: str, body: str, head: str = "") -> str:
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{head}'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def _link(name: str) -> str:
    return quote(name, safe="/")


def _tile(found: Found, ticked: bool) -> str:
    name = html.escape(found.name)
    if found.picture:
        media = f'<img src="compare/thumb/{_link(found.name)}" alt="" loading="lazy">'
    else:
        media = f'<span class="media">{html.escape(PurePosixPath(found.name).suffix.lstrip(".").upper())}</span>'
    check = " checked" if ticked else ""
    return (
        f'<li><label><input type="checkbox" name="file" value="{name}"{check}>'
        f'<span class="tile">{media}<span class="name">{name}</span></span></label></li>'
    )


def pick_page(
    found: list[Found],
    key: str,
    earlier: list[str],
    problem: str = "",
    picked: set[str] | None = None,
    count: int = 4,
    by: str = "",
    vs: str = "",
    everything: bool = False,
) -> str:
    """The page a student picks on; after a problem, the same page with their choices kept and the message on top."""
    picked = picked or set()
    parts = ["<h1>Compare your outputs</h1>"]
    if problem:
        parts.append(f'<p class="problem" role="alert">{html.escape(problem)}</p>')
    parts.append(
        "<p>Put outputs side by side: Atelier makes a contact sheet (a grid of the pictures, laid out "
        "by two settings that differ) and a workbook (one row per output, with every setting). Both "
        "are saved in your outputs folder, in <strong>comparisons</strong>.</p>"
    )
    if not found:
        parts.append(
            "<p>Your outputs folder has no pictures, videos or sounds yet. Make some in ComfyUI, then "
            "reload this page.</p>"
        )
    else:
        listed = found if everything else found[:SHOWN]
        more = (
            (
                f"<p>These are the newest {len(listed)} of {len(found)} outputs. "
                f'<a href="compare?all=1">Show all {len(found)}</a></p>'
            )
            if len(listed) < len(found)
            else ""
        )
        tiles = "".join(_tile(f, f.name in picked) for f in listed)
        preset = min(max(count, 1), len(found))  # what "How many" starts at
        parts.append(f"""<form method="post" action="compare">
<input type="hidden" name="key" value="{html.escape(key)}">
<fieldset><legend>Compare the newest</legend>
<p><label for="count">How many</label> <input id="count" name="count" type="number" min="1" max="{len(found)}"
 value="{preset}"> <button type="submit" name="pick" value="newest">Compare the newest</button></p>
</fieldset>
<details{" open" if by or vs else ""}><summary>Choose the settings across and down</summary>
<p>Without them, Atelier picks the first two settings that differ. Name any setting, such as cfg, seed, steps,
sampler or a node's own setting as node title.setting (KSampler.denoise).</p>
<p><label for="by">Across</label> <input id="by" name="by" type="text" value="{html.escape(by)}">
<label for="vs">Down</label> <input id="vs" name="vs" type="text" value="{html.escape(vs)}"></p>
</details>
<h2>Or tick the ones to compare</h2>
{more}
<ul class="outputs">{tiles}</ul>
<p><button type="submit" name="pick" value="ticked">Compare the ticked ones</button></p>
</form>
<p>A comparison of a handful of outputs takes a few seconds; of hundreds, a minute or two. Keep this tab open
until it is ready.</p>""")
    if earlier:
        items = "".join(f'<li><a href="compare/made/{s}">{html.escape(when(s))}</a></li>' for s in earlier)
        parts.append(f"<h2>Earlier comparisons</h2><ul>{items}</ul>")
    return _document("Compare your outputs", "\n".join(parts))


def making_page(count: int) -> str:
    """While a long comparison runs: the page asks again every two seconds by itself (no script needed)."""
    body = f"""<h1>Making your comparison</h1>
<p><progress aria-label="Making your comparison"></progress></p>
<p>Atelier is putting {count} output{"" if count == 1 else "s"} side by side. This page shows the comparison as
soon as it is ready: it checks again every two seconds by itself. Keep this tab open.</p>"""
    return _document("Making your comparison", body, '<meta http-equiv="refresh" content="2">')


def failed_page(problem: str) -> str:
    """A comparison that stopped after the student was sent on to wait for it."""
    body = f"""<h1>The comparison could not be made</h1>
<p class="problem" role="alert">{html.escape(problem)}</p>
<p><a href="../../compare">Back to your outputs</a></p>"""
    return _document("The comparison could not be made", body)


def made_page(stamp: str) -> str:
    """Where a comparison is, and the buttons to open and download it."""
    base = f"../files/{COMPARISONS}/{stamp}/"
    body = f"""<h1>Your comparison is ready</h1>
<p>It is saved in your outputs folder, in <strong>{COMPARISONS}/{html.escape(stamp)}</strong>: the contact sheet
({SHEET}), the workbook ({WORKBOOK}) and the same table as plain text ({CSV_FILE}).</p>
<ul class="actions">
<li><a class="button" href="{base}{SHEET}">Open the contact sheet</a></li>
<li><a class="button" href="{base}{WORKBOOK}" download>Download the workbook</a></li>
<li><a href="{base}{CSV_FILE}" download>Download the table as CSV</a></li>
<li><a href="../../compare">Compare other outputs</a></li>
</ul>
<iframe src="{base}{SHEET}" title="The contact sheet"></iframe>"""
    return _document("Your comparison is ready", body)
