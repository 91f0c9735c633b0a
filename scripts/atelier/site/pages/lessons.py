"""Lesson pages and the lesson list, rendered from each module's folder.

A lesson page follows the Carpentries shape (questions, objectives, the lesson, exercises
with folded solutions, key points) and adds what a ComfyUI lesson needs: the graph as
it looks on the canvas, the knobs with their defaults and allowed values from the node
node_list, the models with size and licence, and the workflow to download.
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path
from typing import Any

from atelier.files import read_yaml
from atelier.lessons.lint import same_repository
from atelier.lessons.meta import Output
from atelier.lessons.modules import LEVELS, MODALITIES, Module, ordered
from atelier.lessons.nodes import NodeList
from atelier.lessons.pin import CustomNode
from atelier.project import DOCS, KNOB_PICTURES, SCREENSHOTS
from atelier.site import strips
from atelier.site.graph import describe
from atelier.site.markdown import cell, table

MODALITY_NAMES = {"image": "Image", "audio": "Sound", "video": "Video", "3d": "3D"}
SCREENSHOT_MANIFEST = "screenshots.yml"  # file -> alt text, written with the pictures


def display_names(node_list: NodeList) -> dict[str, str]:
    return {name: spec.get("display_name", name) for name, spec in node_list.nodes.items()}


def _size(count: int | None) -> str:
    if count is None:
        return "not stated by the publisher"
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def _outputs(outputs: tuple[Output, ...]) -> str:
    parts = []
    for output in outputs:
        kind, count = output.kind, output.count
        if kind == "image":
            parts.append(f"{count} image{'s' * (count != 1)}, {output.width} × {output.height}")
        elif kind == "video":
            parts.append(f"{count} video, {output.frames} frames at {output.width} × {output.height}")
        elif kind == "audio":
            parts.append(f"{count} sound file, {output.seconds} s")
        else:
            parts.append(f"{count} 3D model")
    return "; ".join(parts)


def _allowed(node_list: NodeList, node_type: str, name: str) -> tuple[str, str]:
    """(default, allowed values) in words, from the node list."""
    spec = node_list.input_spec(node_type, name)
    if spec is None:
        return "", ""
    kind, options = spec
    default = options.get("default", "")
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    if options.get("files"):
        return "", "a file in the models folder"
    if choices is not None:
        shown = ", ".join(f"`{c}`" for c in choices[:6])
        more = f" … ({len(choices)} in all)" if len(choices) > 6 else ""
        return f"`{default}`" if default != "" else f"`{choices[0]}`" if choices else "", shown + more
    if kind in ("INT", "FLOAT") and "min" in options:
        return f"`{default}`", f"{options['min']} to {options['max']}"
    return (f"`{default}`" if default != "" else "", "text" if kind == "STRING" else str(kind).lower())


def _demote(markdown: str) -> str:
    return re.sub(r"^(#+) ", lambda m: "#" * min(6, len(m.group(1)) + 1) + " ", markdown, flags=re.MULTILINE)


def screenshot_alts(folder: Path, section: str | None = None) -> dict[str, str]:
    """File name -> alt text, from the screenshots' manifest (empty when there is none); `section` is a tool's
    part of it (`invokeai`), which `atelier screenshots --tool` writes."""
    path = folder / SCREENSHOT_MANIFEST
    if not path.is_file():
        return {}
    data = read_yaml(path) or {}
    data = (data.get(section) or {}) if section else data
    return {str(k): str(v) for k, v in (data.get("screenshots") or {}).items() if v}


def screenshot_image(folder: Path, name: str, section: str | None = None) -> str | None:
    """Picture `name` with the alt text recorded when it was taken, as Markdown for a page one
    folder below the site root (lessons/, start/); None when the picture or its alt text is missing.

    A picture with a crop (`x-crop.png`, made for phones) comes as both: atelier.css shows the
    crop alone up to 600 px wide and the whole window above, and neither loads while hidden."""
    alts = screenshot_alts(folder, section)
    alt = alts.get(name)
    if not alt or not (folder / name).is_file():
        return None
    base = f"../{SCREENSHOTS.relative_to(DOCS).as_posix()}"
    crop = name.removesuffix(".png") + "-crop.png"
    if not alts.get(crop) or not (folder / crop).is_file():
        return f"![{_alt(alt)}]({base}/{name})"
    return (
        f"![{_alt(alt)}]({base}/{name}){{ .atelier-shot-wide loading=lazy }} "
        f"![{_alt(alts[crop])}]({base}/{crop}){{ .atelier-shot-narrow loading=lazy }}"
    )


def _alt(text: str) -> str:
    return text.replace("[", "(").replace("]", ")")


def _screenshot(module: Module, folder: Path) -> list[str]:
    """The lesson's ComfyUI screenshot, when one was made and has its alt text; else nothing."""
    image = screenshot_image(folder, f"{module.slug}.png")
    if image is None:
        return []
    return [
        "This is how it looks in ComfyUI once you open it:",
        "",
        image,
        "",
        "The same workflow as a map, with each node's settings:",
        "",
    ]


def custom_nodes(module: Module, node_list: NodeList, pinned: list[CustomNode]) -> list[str]:
    """The custom nodes the workflow needs, each with its repository, the semester's commit and its licence
    as module.yaml states it; nothing for a workflow of ComfyUI's own nodes."""
    sources = {}
    for node in module.nodes():
        source = node_list.source_of(str(node.get("type")))
        if source is not None:
            sources[source.folder] = source
    if not sources:
        return []
    rows = []
    for folder, source in sorted(sources.items()):
        about = next(
            (
                c
                for c in module.about.custom_nodes
                if c.name == folder or same_repository(c.repository, source.repository)
            ),
            None,
        )
        repository = source.repository or (about.repository if about else "")
        pin = next((p for p in pinned if same_repository(p.repository, repository)), None)
        commit = f"`{pin.commit}`" if pin else f"`{source.commit}` (the node list's; not in the semester pin)"
        link = repository.removesuffix(".git")
        licence = cell(about.licence) if about else "not stated"
        licence += f" [Licence text]({about.licence_url})" if about and about.licence_url else ""
        rows.append([f"`{folder}`", f"[{cell(link)}]({link})" if link else "", commit, licence])
    return [
        "## Custom nodes",
        "",
        "Some nodes in this workflow are not part of ComfyUI: they come from these custom nodes, which your "
        "cluster installs with ComfyUI, at the commit pinned for the semester.",
        "",
        table(["Custom node", "Repository", "Commit", "Licence"], rows),
        "",
    ]


def lesson_page(
    module: Module,
    node_list: NodeList,
    prompt: dict[str, Any],
    titles: dict[str, str],
    screenshots: Path,
    knob_pictures: Path | None = None,
    pinned: list[CustomNode] | None = None,
) -> str:
    """The page in Markdown; `screenshots` is the project's folder of ComfyUI pictures, and
    `knob_pictures` that of the knob strips (`atelier strips`); `pinned` the semester pin's custom nodes."""
    meta, slug = module.about, module.slug
    prerequisites = ", ".join(f"[{titles.get(p, p)}]({p}.md)" for p in meta.prerequisites) or "none"
    lines = [
        f"# {module.title}",
        "",
        table(
            ["Level", "Teaching", "Exercises", "Makes", "GPU memory", "Before this"],
            [
                [
                    meta.level,
                    f"{meta.minutes.teaching} min",
                    f"{meta.minutes.exercises} min",
                    _outputs(meta.outputs),
                    f"{meta.gpu_memory_gb} GB",
                    prerequisites,
                ]
            ],
        ),
        "",
        '!!! abstract "Questions"',
        "",
        *[f"    - {q}" for q in meta.questions],
        "",
        '!!! success "Objectives"',
        "",
        *[f"    - {o}" for o in meta.objectives],
        "",
        "## Get the workflow",
        "",
        f"Choose **{module.title}** as the lesson in the launch form, and it waits for you in ComfyUI's "
        "**Workflows** panel ([A tour of ComfyUI](../start/tour.md) shows where). Already in a session? "
        "Download the workflow and drag the file onto the ComfyUI canvas. "
        "The notes on the canvas explain each step.",
        "",
        f"[Download {module.file_name}]({slug}/workflow.json)"
        f'{{ .md-button .md-button--primary download="{module.file_name}" }}',
        "",
    ]
    inputs = sorted(p.name for p in (module.folder / "inputs").glob("*")) if (module.folder / "inputs").is_dir() else []
    if inputs:
        lines += [
            "This lesson starts from a file of its own. Download it and upload it in the workflow's load node:",
            "",
        ]
        lines += [f"- [{name}]({slug}/inputs/{name})" for name in inputs] + [""]
    lines += [
        "## The workflow",
        "",
        *_screenshot(module, screenshots),
        f"![{describe_alt(module, node_list)}]({slug}/graph.svg)",
        "",
        "### What each part does",
        "",
    ]
    for note in sorted(module.notes(), key=lambda n: (n.get("pos", [0, 0])[0], n.get("pos", [0, 0])[1])):
        lines += [_demote(_demote(str((note.get("widgets_values") or [""])[0]).strip())), ""]
    lines += ["## Knobs to turn", "", "Change one knob at a time, run the workflow again, and compare.", ""]
    knobs, limits = [], []
    for knob in meta.knobs:
        matches = module.node_by_title(knob.node)
        node = matches[0] if matches else {}
        value = str(prompt.get(str(node.get("id")), {}).get("inputs", {}).get(knob.input, ""))
        value = value if len(value) <= 40 else value[:39] + "…"
        default, allowed = _allowed(node_list, str(node.get("type")), knob.input)
        tries = ", ".join(f"`{cell(t)}`" for t in knob.tries)
        # What to try comes first, beside what the lesson has; ComfyUI's limits (0 to 18446744073709551615
        # for a seed) help few students, so they are folded away below.
        knobs.append([cell(knob.node), f"`{knob.input}`", tries, f"`{cell(value)}`", cell(knob.what)])
        limits.append([cell(knob.node), f"`{knob.input}`", cell(default), cell(allowed)])
    lines += [
        table(["Node", "Setting", "Try", "In this workflow", "What it changes"], knobs),
        "",
        '<details class="info" markdown="1">',
        "<summary>What ComfyUI accepts for each setting (from its node list)</summary>",
        "",
        table(["Node", "Setting", "ComfyUI's default", "Allowed"], limits),
        "",
        "</details>",
        "",
        *knob_strips(module, knob_pictures),
        "## Models",
        "",
        "Your cluster's shared model store already holds these files; you don't download them yourself.",
        "",
    ]
    folders = {m.name: m.directory for m in module.models()}
    lines.append(
        table(
            ["File", "Folder", "Size", "Licence"],
            [
                [f"`{m.name}`", f"`{folders.get(m.name, '')}`", _size(m.size), f"[{cell(m.licence)}]({m.licence_url})"]
                for m in meta.models
            ],
        )
    )
    lines += ["", *custom_nodes(module, node_list, pinned or []), "## Exercises", ""]
    for number, exercise in enumerate(meta.exercises, start=1):
        title = exercise.title or f"Exercise {number}"
        lines += [
            f'!!! question "Exercise {number}: {escape(title, quote=True)}"',
            "",
            f"    {exercise.task}",
            "",
            '    ??? tip "Hint"',
            "",
            f"        {exercise.hint}",
            "",
            '    ??? success "Solution"',
            "",
            f"        {exercise.solution}",
            "",
        ]
    lines += ['!!! note "Key points"', "", *[f"    - {k}" for k in meta.key_points], ""]
    return "\n".join(lines)


TEST_RUNS = "Test runs: noise from test models, not what you will see"  # the folded block's title


def strip_note(made: strips.Made) -> list[str]:
    """What made the pictures, said before them: test-model pictures are never passed off as real."""
    if made.models == "real":
        return [
            f'!!! info "Made with this lesson\'s own models on {made.device}, {made.date}"',
            "",
            f"    ComfyUI {made.comfyui} made each picture with the lesson's workflow and that one setting "
            "changed, the way `atelier sweep` makes a grid.",
            "",
        ]
    return [
        f"These pictures were made on {made.date} on {made.device} by ComfyUI {made.comfyui} with "
        "random-weight test models, smaller and in fewer steps than the lesson, so they are noise, not "
        "art, and each says so on the picture: they show that each value runs, not what it looks like. "
        "Your session, with the real models, paints real pictures.",
        "",
    ]


def knob_strips(module: Module, folder: Path | None) -> list[str]:
    """For each knob with "Try" values, a picture for each value; nothing where none were made.

    Real pictures stand under "What each knob does". Test-model ones promise only that each
    value runs: they are folded away under a title that says so, and each is labelled on itself.
    """
    made = strips.read(folder, module.slug) if folder else None
    if made is None:
        return []
    test = made.made.models != "real"
    base = f"../{KNOB_PICTURES.relative_to(DOCS).as_posix()}"
    body = [
        *strip_note(made.made),
        "Each picture holds its workflow, with the knob at that value: download it and drag it onto "
        "ComfyUI's canvas to open the workflow with that exact setting.",
        "",
    ]
    for knob in module.about.knobs:
        pictures = made.strips.get((knob.node, knob.input))
        if not pictures:
            continue
        body += [f"**{escape(knob.node)} · `{knob.input}`**", "", '<div class="atelier-strip" markdown>', ""]
        for picture in pictures:
            value = str(picture["value"])
            short = value if len(value) <= 48 else value[:47] + "…"
            kind = "Test-model picture (noise, labelled TEST MODEL)" if test else "Picture"
            alt = f"{kind} made with {knob.node} {knob.input} {short}".replace("[", "(").replace("]", ")")
            value_part = re.sub(r"[^A-Za-z0-9.]+", "-", short)[:40]
            download = f"{module.slug}-{strips.knob_id(knob.node, knob.input)}-{value_part}.png"
            src = f"{base}/{picture['file']}"
            body += [
                "<figure markdown>",
                "",
                f'[![{alt}]({src}){{ width="{picture["width"]}" height="{picture["height"]}" loading=lazy }}]'
                f'({src}){{ download="{download}" title="{escape(value, quote=True)}" }}',
                "",
                f"<figcaption>{'Test run: ' if test else ''}{escape(short)}</figcaption>",
                "",
                "</figure>",
                "",
            ]
        body += ["</div>", ""]
    if not test:
        return ["### What each knob does", "", *body]
    return [
        "### Each value runs",
        "",
        f'??? warning "{TEST_RUNS}"',
        "",
        *[f"    {line}" if line else "" for line in body],
    ]


def describe_alt(module: Module, node_list: NodeList) -> str:
    return describe(module.workflow, display_names(node_list)).replace("[", "(").replace("]", ")")


def modules_table(modules: list[Module]) -> str:
    """The filterable list of modules for the Lessons index."""

    def options(name: str, label: str, values: list[tuple[str, str]]) -> str:
        items = "".join(f'<option value="{v}">{escape(t)}</option>' for v, t in values)
        return (
            f'<label>{label} <select data-lesson-filter="{name}"><option value="">all</option>{items}</select></label>'
        )

    rows = []
    for module in ordered(modules):
        meta = module.about
        rows.append(
            f'<tr data-modality="{meta.modality}" data-level="{meta.level}">'
            f'<td><a href="{module.slug}/">{escape(module.title)}</a></td>'
            f"<td>{MODALITY_NAMES.get(meta.modality or '', '')}</td><td>{meta.level}</td>"
            f"<td>{meta.minutes.total} min</td>"
            f"<td>{meta.gpu_memory_gb} GB</td><td>{escape(_outputs(meta.outputs))}</td></tr>"
        )
    return "\n".join(
        [
            '<div class="atelier-filters" markdown>',
            options("modality", "Kind", [(m, MODALITY_NAMES[m]) for m in MODALITIES]),
            options("level", "Level", [(level, level) for level in LEVELS]),
            "</div>",
            "",
            '<table class="atelier-lessons">',
            "<thead><tr><th>Module</th><th>Kind</th><th>Level</th>"
            "<th>Time</th><th>GPU memory</th><th>Makes</th></tr></thead>",
            "<tbody>",
            *rows,
            "</tbody>",
            "</table>",
            "",
            f"<p data-lesson-count>{len(modules)} modules.</p>",
        ]
    )


def nav(modules: list[Module]) -> list[dict[str, Any]]:
    """Lessons grouped by kind, for the site navigation."""
    groups: dict[str, list[dict[str, str]]] = {}
    for module in ordered(modules):
        name = MODALITY_NAMES.get(module.about.modality or "", "Other")
        groups.setdefault(name, []).append({module.title: f"lessons/{module.slug}.md"})
    return [{name: pages} for name, pages in groups.items()]


def files_to_publish(module: Module) -> dict[str, Path]:
    """Site path -> source file, for what students download beside the page."""
    published = {f"lessons/{module.slug}/workflow.json": module.workflow_path}
    inputs = module.folder / "inputs"
    if inputs.is_dir():
        for path in sorted(inputs.iterdir()):
            published[f"lessons/{module.slug}/inputs/{path.name}"] = path
    return published
