"""The semester pin, `workflows/pin.yaml`: what must not change under a lesson.

One file names the semester (which is also the docs version), the ComfyUI release and
commit, the frontend package and every custom node by commit. Install, the node list
and the site read it through `load_pin`, so a malformed pin fails in one place with a
message naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from atelier.fields import Fields, matching
from atelier.files import read_yaml
from atelier.messages import AtelierError

PIN_PATH = Path("workflows/pin.yaml")
SEMESTER = re.compile(r"^(\d{4})-(winter|spring|summer|fall)$")
# A term's place in the year, so docs versions sort in time: 2026-2-spring < 2026-4-fall.
TERMS = {"winter": 1, "spring": 2, "summer": 3, "fall": 4}
COMMIT = re.compile(r"^[0-9a-f]{40}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
FOLDER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
TOOL = re.compile(r"^[a-z][a-z0-9-]*$")
# One exact release of one package from the index, extras allowed: `rembg[cli]==2.0.69`.
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==\d[A-Za-z0-9.+!-]*$")


@dataclass(frozen=True)
class CustomNode:
    repository: str
    commit: str
    # Folders the node reads from ComfyUI/models/ directly rather than through ComfyUI's
    # model paths: install makes each in the shared store, and sessions point the node there.
    model_folders: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The node's folder: its repository's last path part, as ComfyUI-Manager names it."""
        return self.repository.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


@dataclass(frozen=True)
class Pin:
    semester: str
    comfyui_version: str
    comfyui_commit: str
    frontend_version: str
    custom_nodes: list[CustomNode] = field(default_factory=list)
    # The tools beside ComfyUI, by their folder in tools/: each one's package at one release.
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def tool_names(self) -> list[str]:
        """Every tool of the semester, ComfyUI first."""
        return ["comfyui", *self.tools]

    @property
    def docs_version(self) -> str:
        """The site version for this pin, e.g. `2026-4-fall`.

        mike lists versions newest first by comparing their parts; with the term's
        number in the name, fall comes after summer rather than before it.
        """
        year, term = self.semester.split("-")
        return f"{year}-{TERMS[term]}-{term}"

    @property
    def docs_title(self) -> str:
        """The name the version menu shows, e.g. `Fall 2026`."""
        year, term = self.semester.split("-")
        return f"{term.capitalize()} {year}"


def load_pin(path: Path) -> Pin:
    """Read and check the pin; every problem names the file and the field."""
    if not path.is_file():
        raise AtelierError("pin-missing", file=path)
    fields = Fields("pin-field", path, read_yaml(path))

    def text(dotted: str, pattern: re.Pattern[str], expected: str) -> str:
        return str(fields.get(dotted, matching(pattern, expected)))

    nodes = fields.value("custom_nodes") or []
    if not isinstance(nodes, list):
        fields.wrong("custom_nodes", "must be a list")
    custom_nodes = []
    for index, node in enumerate(nodes):
        where = f"custom_nodes[{index}]"
        if not isinstance(node, dict) or not node.get("repository"):
            fields.wrong(f"{where}.repository", "is missing")
        if not COMMIT.match(str(node.get("commit", ""))):
            fields.wrong(f"{where}.commit", "must be a full 40-character commit")
        folders = node.get("model_folders") or []
        if not isinstance(folders, list) or not all(FOLDER.match(str(f)) for f in folders):
            fields.wrong(f"{where}.model_folders", "must be a list of folder names such as depthanything")
        custom_nodes.append(CustomNode(str(node["repository"]), str(node["commit"]), tuple(map(str, folders))))

    tools = fields.value("tools") or {}
    if not isinstance(tools, dict):
        fields.wrong("tools", "must map each tool's folder name to its package at one release")
    for name, requirement in tools.items():
        if not TOOL.match(str(name)) or name == "comfyui":
            fields.wrong(f"tools.{name}", "must be a tool's folder name in tools/ (ComfyUI is pinned above)")
        if not REQUIREMENT.match(str(requirement)):
            fields.wrong(
                f"tools.{name}", f"is {requirement!r}, expected one package at one release such as invokeai==6.14.2"
            )

    return Pin(
        semester=text("semester", SEMESTER, "a year and a term such as 2026-fall"),
        comfyui_version=text("comfyui.version", VERSION, "a release such as 0.3.64"),
        comfyui_commit=text("comfyui.commit", COMMIT, "a full 40-character commit"),
        frontend_version=text("frontend.version", VERSION, "a release such as 1.28.7"),
        custom_nodes=custom_nodes,
        tools={str(name): str(requirement) for name, requirement in tools.items()},
    )
