"""Tables for the Runbook, made at site build from the files that hold their facts.

Where each cluster keeps its model store, the folders in it, what every module needs
there (sizes, licences, checksums), the custom nodes the semester pins and the exact
line lint prints for a node it does not know: all of these live in cluster profiles,
workflows, module.yaml files, the pin and the message catalogue. A copy typed into a
page would be wrong the first time one of them changed, so the site plugin's markers put
these in place instead. Each function takes its sources as arguments (tests pass
altered ones); `MARKERS` hands them the project's own.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from atelier import runlog
from atelier.comfy import headless
from atelier.comfy.server import MODEL_FOLDERS
from atelier.hpc.install import model_paths_text
from atelier.hpc.profiles import Profile
from atelier.hpc.store import declared
from atelier.keep.userfolder import StudentFolder
from atelier.layout import Layout, SessionFolder, SweepFolder
from atelier.lessons.meta import ModelLicence
from atelier.lessons.modules import Module
from atelier.lessons.pin import Pin
from atelier.messages import Finding, plural
from atelier.project import Project
from atelier.site.markdown import cell, table
from atelier.tools.declaration import BLANKS, FIELDS, Tool

LOCATIONS_MARKER = "<!-- model store per cluster -->"
LAYOUT_MARKER = "<!-- model store layout -->"
SIZES_MARKER = "<!-- model store sizes -->"
CUSTOM_NODES_MARKER = "<!-- pinned custom nodes -->"
UNKNOWN_NODE_MARKER = "<!-- lint unknown node -->"
CODE_LAYOUT_MARKER = "<!-- code layout -->"
TOOL_FIELDS_MARKER = "<!-- tool declaration fields -->"
TOOL_BLANKS_MARKER = "<!-- tool declaration blanks -->"
PINNED_TOOLS_MARKER = "<!-- pinned tools -->"
PREFIX_MARKER = "<!-- install prefix -->"
SMOKE_MARKER = "<!-- smoke limits -->"
SESSION_MARKER = "<!-- session folder -->"
STUDENT_MARKER = "<!-- student folder -->"
SWEEP_MARKER = "<!-- sweep folder -->"
LESSON_CHECK_LOG_MARKER = "<!-- lesson check log -->"
CONFIRM_MARKER = "<!-- profile values to confirm -->"
FAILURE_LOG_MARKER = "<!-- failure logs -->"
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[\w-]+):(?P<value>[^#]*)(?:#\s*(?P<comment>.*))?$")
LESSON_CHECK = Path("checks") / "lesson-check.sbatch"
# What each atelier command of the GPU check prints in its log, by subcommand.
CHECK_COMMAND_LINES = {
    "models verify": "`atelier models verify`: a line per model file (`verified`, or what is wrong), then a "
    "summary; a missing or changed file stops the job here, before any lesson runs.",
    "check": "`atelier check`: a line per lesson module ({modules} of them), `passed` with its seconds, or "
    "`FAILED` with the reason, then `<n> passed, <n> failed, <n> skipped. Report: "
    "check-report-<job id>/report.json`.",
    "strips": "`atelier strips`: a line per picture lesson as its knob strips are remade with the real models, "
    "then a summary.",
}
PLACEHOLDERS = {
    "$(date)": "<date>",
    "$(hostname)": "<node>",
    "$(pwd)": "<the checkout>",
    "$report": "check-report-<job id>",
}
PACKAGE = Path(__file__).resolve().parents[2]  # scripts/atelier, the package these pages describe


@dataclass(frozen=True)
class StoredModel:
    """One file in the store: where its workflow puts it, and what its module.yaml says of it."""

    name: str
    folder: str
    size: int | None  # bytes, from module.yaml; None where the publisher states none
    licence: str
    licence_url: str
    sha256: bool  # whether the workflow gives a published sha256 to verify the download
    modules: tuple[str, ...]


def stored_models(modules: list[Module]) -> list[StoredModel]:
    """Every model file the modules need, once each, with the modules that use it."""
    licences: dict[str, ModelLicence] = {}  # the first module.yaml to list a file speaks for it
    users: dict[str, list[str]] = {}
    for module in modules:
        for entry in module.about.models:
            if entry.name:
                licences.setdefault(entry.name, entry)
        for model in module.models():
            users.setdefault(model.name, []).append(module.slug)
    found = []
    for model in declared(modules):
        entry = licences.get(model.name) or ModelLicence(model.name, "", "", None)
        found.append(
            StoredModel(
                model.name,
                model.directory,
                entry.size,
                entry.licence or "not stated",
                entry.licence_url,
                model.sha256 is not None,
                tuple(sorted(users[model.name])),
            )
        )
    return found


def size_text(count: int | None) -> str:
    """Sizes as the lesson pages show them, so the two pages agree."""
    if count is None:
        return "not stated"
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.0f} MB"


def _total(models: Iterable[StoredModel]) -> str:
    """The known sizes added up, saying how many files are left out rather than guessing them."""
    models = list(models)
    unknown = sum(m.size is None for m in models)
    if models and unknown == len(models):
        return "not stated"
    known = size_text(sum(m.size or 0 for m in models))
    return known + (f" (the size of {plural(unknown, 'file')} is not stated)" if unknown else "")


def model_store_sizes(modules: list[Module]) -> str:
    """Disk space per module, the whole store, and every file with its licence."""
    models = stored_models(modules)
    per_module = []
    for module in sorted(modules, key=lambda m: m.slug):
        own = [m for m in models if module.slug in m.modules]
        files = ", ".join(f"`{m.name}`" for m in own) or "none"
        per_module.append([f"[{module.slug}](../lessons/{module.slug}.md)", files, _total(own)])
    lines = [table(["module", "model files", "disk space"], per_module)]
    whole = (
        f"**The whole store, every module: {plural(len(models), 'file')}, {_total(models)}.** "
        "Each file is counted once, though several modules share some of them."
    )
    files = []
    for model in sorted(models, key=lambda m: (m.folder, m.name)):
        licence = f"[{model.licence}]({model.licence_url})" if model.licence_url else model.licence
        check = "yes" if model.sha256 else "**none**: fetched unverified"
        files.append(
            [f"`{model.name}`", f"`{model.folder}`", size_text(model.size), licence, check, ", ".join(model.modules)]
        )
    lines += ["", whole, "", table(["file", "folder", "size", "licence", "published sha256", "used by"], files)]
    return "\n".join(lines)


def store_layout(modules: list[Module]) -> str:
    """The store's folders, as `atelier install` makes them, with the files modules put in each."""
    by_folder: dict[str, list[str]] = {}
    for model in stored_models(modules):
        by_folder.setdefault(model.folder, []).append(model.name)
    folders = [*MODEL_FOLDERS, *sorted(set(by_folder) - set(MODEL_FOLDERS))]
    lines = ["```text", "<store>/"]
    for folder in folders:
        lines += [f"  {folder}/", *(f"    {name}" for name in sorted(by_folder.get(folder, [])))]
    lines += ["  .verified.json        what 'atelier models fetch' has checked: sha256, size, time", "```"]
    return "\n".join(lines)


def store_locations(profiles: list[Profile]) -> str:
    """Each cluster's store (its profile's `models:`), and the config that points ComfyUI at one."""
    rows = []
    example: Path | None = None
    for profile in profiles:
        store = profile.models or (Layout.of(profile.prefix).models if profile.prefix else None)
        if profile.models:
            shown = f"`{store}`"
        elif store:
            shown = f"`{store}` (not set: the prefix's own)"
        else:
            shown = "not set: give `--models` or `ATELIER_MODELS`"
        rows.append(
            [profile.title, shown, f"`{profile.prefix or 'none'}`", f"`scripts/atelier/clusters/{profile.file.name}`"]
        )
        example = example or store
    lines = [table(["cluster", "model store (`models:`)", "software prefix (`prefix:`)", "profile"], rows)]
    if example:
        written = f"For the store `{example}`, `atelier install` writes this `ComfyUI/extra_model_paths.yaml`:"
        lines += ["", written, "", "```yaml", model_paths_text(example).rstrip(), "```"]
    return "\n".join(lines)


def custom_nodes_table(pin: Pin) -> str:
    """The custom nodes the pin in force allows, each with the folder install checks it out into."""
    if not pin.custom_nodes:
        return (
            f"The pin in force ({pin.semester}) lists **no custom nodes**: every module uses ComfyUI's "
            "own nodes, and students' ComfyUI loads only Atelier's login gate and drain extensions."
        )
    rows = [[node.repository, f"`{node.commit}`", f"`ComfyUI/custom_nodes/{node.name}`"] for node in pin.custom_nodes]
    return f"The pin in force ({pin.semester}) allows these custom nodes:\n\n" + table(
        ["repository", "commit", "folder in the prefix"], rows
    )


def unknown_node_example(version: str) -> str:
    """What `atelier lint` prints for a node type the node list lacks, from the message catalogue."""
    code = "lint-unknown-node"  # not a literal call: the message test counts only lint.py's own
    finding = Finding(
        code,
        {
            "file": "workflows/charcoal-portraits/workflow.json",
            "node": 12,
            "title": "Face detector",
            "type": "UltralyticsDetectorProvider",
            "version": version,
        },
    )
    return "\n".join(["```text", f"error: {finding}", "```"])


def smoke_limits() -> str:
    """How the smoke check lightens a lesson for a CPU, from the limits the code applies."""
    by_node = "; ".join(
        f"{node}'s {name} at most {most}"
        for node, limits in headless.SMOKE_BY_NODE.items()
        for name, most in limits.items()
    )
    return (
        f"sampler steps at most {headless.SMOKE_LIMITS['steps']}; a picture's longer side at most "
        f"{headless.SMOKE_IMAGE_SIDE} pixels and a video's at most {headless.SMOKE_VIDEO_SIDE}, each keeping its "
        f"shape; at most {headless.SMOKE_FRAMES} video frames and {headless.SMOKE_LIMITS['seconds']:g} seconds of "
        f"sound; a 3D mesh's octree resolution at most {headless.SMOKE_LIMITS['octree_resolution']} ({by_node}). "
        "The outputs are expected at the sizes asked for"
    )


def tree(root: str, entries: list[tuple[str, str]]) -> str:
    """A folder's files as a text block, each with what it holds, from layout.py (where code finds them)."""
    width = max(len(path) for path, _ in entries) + 3
    lines = ["```text", f"{root}/", *(f"  {path:<{width}}{what}" for path, what in entries), "```"]
    return "\n".join(lines)


def _docstring_line(path: Path) -> str:
    """A module's or package's first docstring line: what it is for, in its own words."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n")[0].split())


def code_layout(package: Path = PACKAGE) -> str:
    """The package's folders and files, each with its docstring's first paragraph."""
    rows = []
    top = sorted(p for p in package.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    for path in top:
        rows.append([f"`{path.name}`", _docstring_line(path)])
    for folder in sorted(p for p in package.iterdir() if (p / "__init__.py").is_file()):
        for sub in [
            folder,
            *sorted(p for p in folder.iterdir() if (p / "__init__.py").is_file() and p.name != "extensions"),
        ]:
            name = sub.relative_to(package).as_posix()
            rows.append([f"**`{name}/`**", _docstring_line(sub / "__init__.py")])
            for path in sorted(sub.glob("*.py")):
                if path.name != "__init__.py":
                    rows.append([f"`{name}/{path.name}`", _docstring_line(path)])
    return table(["Folder or file", "What it holds"], rows)


def lesson_check_log(script: Path, modules: int) -> str:
    """What the GPU lesson check's log shows, line by line of the script itself, so neither drifts."""
    items = []
    for line in script.read_text(encoding="utf-8").splitlines():
        line = line.split(" # ", 1)[0].strip()
        if line.startswith("echo "):
            text = line.removeprefix("echo ").strip('"')
            for name, shown in PLACEHOLDERS.items():
                text = text.replace(name, shown)
            items.append(f"`{text}`")
        elif line.startswith("nvidia-smi"):
            items.append("the GPU's name, memory and driver version (from `nvidia-smi`)")
        elif line.startswith('"$atelier" '):
            words = line.removeprefix('"$atelier" ').split()
            key = " ".join(words[:2]) if " ".join(words[:2]) in CHECK_COMMAND_LINES else words[0]
            if key not in CHECK_COMMAND_LINES:
                raise ValueError(f"{script}: no description of what 'atelier {key}' prints")
            items.append(CHECK_COMMAND_LINES[key].format(modules=modules))
    return "\n".join(f"{number}. {item}" for number, item in enumerate(items, 1))


def failure_logs() -> str:
    """Where `atelier` saves a bug's traceback, and how many it keeps: from the code that saves them."""
    return (
        f"Those files go in the folder that `{runlog.VARIABLE}` names if it is set, else in "
        f"`$XDG_STATE_HOME/{runlog.FOLDER.as_posix()}`, else in `~/{(runlog.STATE / runlog.FOLDER).as_posix()}` "
        f"of whoever ran the command (a folder made there is readable by its owner only, and so is each file). "
        f"Each is named `{runlog.PATTERN}` after its date and time; a folder keeps the newest "
        f"{runlog.KEEP}, none older than {runlog.MAX_AGE.days} days."
    )


def to_confirm(path: Path) -> dict[str, tuple[str, str | None]]:
    """A profile's fields: dotted field -> (value as written, what to put there if its comment says "confirm")."""
    found: dict[str, tuple[str, str | None]] = {}
    parents: list[tuple[int, str]] = []
    pending = ""  # a "# confirm: ..." line above a key
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#"):
            text = line.lstrip()[1:].strip()
            pending = text if text.startswith("confirm") else pending
            continue
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        parents = [(i, k) for i, k in parents if i < indent]
        field = ".".join([k for _, k in parents] + [match["key"]])
        parents.append((indent, match["key"]))
        comment = (match["comment"] or "").strip() or pending
        pending = ""
        what = None
        if comment.startswith("confirm"):  # its first sentence: a source may follow
            what = re.split(r"\.\s+(?=[A-Z])", comment.removeprefix("confirm").lstrip(" :"))[0].rstrip(".")
        found[field] = (match["value"].strip() or "…", what)
    return found


def confirm_table(profiles: list[Profile]) -> str:
    """Every value a profile marks "confirm", as each installed profile has it now, read from the files."""
    marked = {p.title: to_confirm(p.file) for p in profiles}
    fields = list(dict.fromkeys(f for found in marked.values() for f, (_, what) in found.items() if what))
    rows = []
    for field in fields:
        now = [f"`{marked[p.title][field][0]}`" if field in marked[p.title] else "—" for p in profiles]
        what = next(found[field][1] for found in marked.values() if found.get(field, ("", None))[1])
        rows.append([f"`{field}`", *now, cell(what)])
    return table(["field", *[f"{p.title} now" for p in profiles], "what to put there"], rows)


def tool_fields() -> str:
    """Every field a tool's declaration may hold, from the loader's own list."""
    return table(
        ["field", "what it says", "needed"],
        [(f"`{name}`", cell(meaning), "yes" if needed else "no") for name, (meaning, needed) in FIELDS.items()],
    )


def tool_blanks() -> str:
    """The blanks `atelier serve --tool` fills in a declaration's command, environment, files and links."""
    return table(["blank", "filled in with"], [(f"`{{{name}}}`", cell(meaning)) for name, meaning in BLANKS.items()])


def pinned_tools(pin: Pin, tools: list[Tool]) -> str:
    """The semester's tools beside ComfyUI: folder, name and the package at its release."""
    rows = [(f"`tools/{t.name}/`", cell(t.title), f"`{pin.tools[t.name]}`") for t in tools if not t.builtin]
    return table(["declaration", "tool", "package (semester pin)"], rows)


# Registered in the site plugin's MARKERS: each marker comment in a page becomes its table.
MARKERS: dict[str, Callable[[Project], str]] = {
    TOOL_FIELDS_MARKER: lambda p: tool_fields(),
    TOOL_BLANKS_MARKER: lambda p: tool_blanks(),
    PINNED_TOOLS_MARKER: lambda p: pinned_tools(p.pin, p.tools),
    CONFIRM_MARKER: lambda p: confirm_table(p.installed_profiles),
    LOCATIONS_MARKER: lambda p: store_locations(p.profiles),
    LAYOUT_MARKER: lambda p: store_layout(p.modules),
    SIZES_MARKER: lambda p: model_store_sizes(p.modules),
    CUSTOM_NODES_MARKER: lambda p: custom_nodes_table(p.pin),
    UNKNOWN_NODE_MARKER: lambda p: unknown_node_example(p.nodes.comfyui_version),
    CODE_LAYOUT_MARKER: lambda p: code_layout(),
    SMOKE_MARKER: lambda p: smoke_limits(),
    PREFIX_MARKER: lambda p: tree("<prefix>", Layout.of(Path("<prefix>")).tree()),
    SESSION_MARKER: lambda p: tree("<session folder>", SessionFolder(Path("<session folder>")).tree()),
    STUDENT_MARKER: lambda p: tree("<user_folder>", StudentFolder(Path("<user_folder>")).tree()),
    SWEEP_MARKER: lambda p: tree("<sweep folder>", SweepFolder(Path("<sweep folder>")).tree()),
    LESSON_CHECK_LOG_MARKER: lambda p: lesson_check_log(p.root / LESSON_CHECK, len(p.modules)),
    FAILURE_LOG_MARKER: lambda p: failure_logs(),
}
