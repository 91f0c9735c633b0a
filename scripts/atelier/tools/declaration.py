"""A tool as data: `tools/<name>/tool.yaml`, read and checked in one place.

A tool beside ComfyUI (InvokeAI's canvas, a Gradio app) is a pinned package from the
package index, started by a command its package provides: none of its code is ours. Its
declaration says everything install, serve, the gate and the dashboard need to know of
it, so adding a tool is a folder and a line in the semester pin, never a change of code:

* what installs it: the package and release the semester pin names under `tools`, with
  the semester's PyTorch where `torch` says so, into an environment of its own;
* how it starts: a command and environment with blanks ({port}, {state}, ...) that serve
  fills in, on 127.0.0.1 only, behind the standalone gate;
* how it takes the proxy's prefix ({base} in its command, environment or files);
* where it reads models (folders of the shared store) and saves outputs ({outputs}, the
  student's outputs folder), and what of its state is the student's to keep;
* how to tell it is up (`health`), and its name, one line and picture for the dashboard.

ComfyUI has a declaration too (`builtin: comfyui`): its name, line and picture come from
it, while install and serve keep their own code for it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from atelier.fields import Fields, of_type
from atelier.files import read_yaml
from atelier.messages import AtelierError

TOOLS_PATH = Path("tools")  # beside workflows/: one folder per tool
DECLARATION = "tool.yaml"
BUILTIN = "comfyui"  # the tool whose install and serve are atelier's own code
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
# A folder below {outputs} or {state}: never the folder itself, never up out of it.
LINKED = re.compile(r"^\{(outputs|state)\}(/(?!\.\.?(/|$))[^/]+)+$")
# The blanks serve fills in; any other {name} in a declaration is a mistake named at load.
BLANKS = {
    "python": "the tool environment's Python",
    "bin": "the tool environment's bin folder, where its commands are",
    "port": "the private port the tool listens on (127.0.0.1 only)",
    "base": "the path the dashboard's proxy serves the session under, without its last /",
    "state": "the session's folder for the tool on the node's own disk (its database, caches)",
    "keep": "the student's own folder for this tool, kept between sessions",
    "outputs": "the student's outputs folder",
    "models": "the shared model store",
}
# Every field of a declaration, what it says, and whether it must be there: the Runbook's table is made
# from this, and a test holds it to the Tool class.
FIELDS = {
    "title": ("the tool's name on the dashboard, its session card and the login page", True),
    "summary": ("one line: what a student does with it (the dashboard's description)", True),
    "picture": ("the dashboard's picture for its app: a PNG file beside tool.yaml", True),
    "assignments": ("for Teach: the assignments it suits", True),
    "builtin": ("`comfyui` only: installed and served by atelier's own code", False),
    "torch": ("`true` if it runs on PyTorch: its environment gets the semester's build", False),
    "command": ("the command that starts it, as a list, listening on 127.0.0.1 and {port}", True),
    "environment": ("variables it reads its settings from (its proxy path, folders, telemetry off)", False),
    "files": ("files written before it starts (a settings file), path: text", False),
    "links": ("folders made links before it starts, link: folder it points to", False),
    "health": ("a path that answers 200 once it is ready", True),
    "start_seconds": ("how long it may take to answer on a CPU (default 120)", False),
    "models": ("folders of the shared model store it reads", False),
    "register": ("a path POSTed once per model found there at start, with {model} its path", False),
    "served_files": (
        "paths where it sends back files a student uploaded or made: the gate opens them sandboxed",
        False,
    ),
    "keep": ("folders below {keep} that are the student's own, kept between sessions", False),
    "previews": ("folders below {outputs} of its small copies of pictures, which the ledger and backups skip", False),
    "prepare": ("a command install runs once in its environment, after its packages", False),
    "test_models": ("a program of atelier.tools and its arguments that makes random-weight test models", False),
}
PROGRAMS = Path(__file__).parent  # where test_models' programs are
PICTURES = (".png",)  # what Open OnDemand shows as an app's icon (icon.png)


@dataclass(frozen=True)
class Tool:
    """One tool's declaration, checked."""

    name: str  # its folder's name, and the semester pin's key
    folder: Path
    title: str  # the dashboard's name for it
    summary: str  # one line: what a student does with it
    picture: Path  # the dashboard's picture, beside the declaration
    builtin: bool = False  # ComfyUI: installed and served by atelier's own code
    torch: bool = False  # its environment gets the semester's PyTorch build
    command: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # path: text, both with blanks, written before it starts
    health: str = "/"  # a path below its root that answers 200 once it is ready
    start_seconds: int = 120  # how long it may take to answer on a CPU
    models: tuple[str, ...] = ()  # folders of the shared store it reads
    served_files: tuple[str, ...] = ()  # paths where it sends back files a student uploaded or made: sandboxed
    register: str = ""  # a path POSTed once per model found there at start ({model}: its path), if it must be told
    keep: tuple[str, ...] = ()  # paths below {keep} the student's work lives in (made before it starts)
    # Folders made links before it starts (link: the folder it points to): its temporary files below
    # {outputs} kept on the node's disk, where the ledger and backups (which never follow a link) leave
    # them; or a folder it saves work in, fixed by the tool, pointed into {outputs}.
    links: dict[str, str] = field(default_factory=dict)
    previews: tuple[str, ...] = ()  # folders below {outputs} of its small copies of pictures: marked, not work
    prepare: tuple[str, ...] = ()  # run once by install in its environment, after its packages
    test_models: tuple[str, ...] = ()  # a program of atelier.tools and its arguments: random-weight models it loads
    assignments: str = ""  # for Teach: which assignments it suits

    @property
    def file(self) -> Path:
        return self.folder / DECLARATION

    def fill(self, text: str, blanks: dict[str, str]) -> str:
        """`text` with its blanks filled; `{{` and `}}` stay as single braces."""
        return text.format_map(blanks)


def _blanks_in(text: str) -> set[str]:
    """The {names} in `text`; a brace that opens no blank is an error of its own ("{" alone)."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"{"}


def load_tool(folder: Path) -> Tool:
    """Read and check one declaration: every problem names the file and the field."""
    path = folder / DECLARATION
    if not path.is_file():
        raise AtelierError("tool-missing", name=folder.name, file=path)
    fields = Fields("tool-field", path, read_yaml(path))
    if not NAME.match(folder.name):
        fields.wrong("", f"is in folder {folder.name!r}: a tool's folder name is lowercase letters, digits and -")
    text = of_type(str)
    picture = folder / str(fields.get("picture", text))
    if picture.suffix not in PICTURES or not picture.is_file():
        fields.wrong("picture", f"must be a {' or '.join(PICTURES)} file beside {DECLARATION}, not {picture.name!r}")
    common = {
        "name": folder.name,
        "folder": folder,
        "title": str(fields.get("title", text)),
        "summary": str(fields.get("summary", text)),
        "picture": picture,
        "assignments": str(fields.get("assignments", text)),
    }
    if fields.value("builtin") is not None:
        if fields.value("builtin") != BUILTIN:
            fields.wrong("builtin", f"is {fields.value('builtin')!r}; only {BUILTIN!r} is built in")
        return Tool(builtin=True, **common)

    command = fields.get("command", of_type(list))
    environment = fields.get("environment", of_type(dict), required=False, default={})
    files = fields.get("files", of_type(dict), required=False, default={})
    texts = {"command": [str(part) for part in command]}
    texts.update({f"environment.{key}": [str(value)] for key, value in environment.items()})
    texts.update({f"files.{key}": [str(key), str(value)] for key, value in files.items()})
    links = fields.get("links", of_type(dict), required=False, default={})
    texts.update({f"links.{key}": [str(key), str(value)] for key, value in links.items()})
    for key, value in links.items():
        if not (LINKED.match(str(key)) and LINKED.match(str(value))):
            fields.wrong(f"links.{key}", "must link a folder below {outputs}/ or {state}/ to one below the other")
    previews = [str(path) for path in fields.get("previews", of_type(list), required=False, default=[])]
    for i, path in enumerate(previews):
        if not LINKED.match(path) or not path.startswith("{outputs}/"):
            fields.wrong(f"previews[{i}]", f"is {path!r}, expected a folder below {{outputs}}/")
    prepare = [str(part) for part in fields.get("prepare", of_type(list), required=False, default=[])]
    test_models = [str(part) for part in fields.get("test_models", of_type(list), required=False, default=[])]
    texts.update({"prepare": prepare, "test_models": test_models})
    if test_models and not (PROGRAMS / test_models[0]).is_file():
        fields.wrong("test_models", f"names {test_models[0]!r}, not a program of atelier.tools ({PROGRAMS})")
    for where, parts in texts.items():
        for part in parts:
            unknown = sorted(_blanks_in(part) - set(BLANKS))
            if unknown == ["{"]:
                fields.wrong(where, f"has a brace that opens no blank in {part!r}; write {{{{ or }}}} for a brace")
            if unknown:
                fields.wrong(where, f"has the blank {{{unknown[0]}}}; the blanks are {', '.join(sorted(BLANKS))}")
    told = ("command", "environment.", "files.")  # where a tool can learn its port
    if "{port}" not in " ".join(part for name, parts in texts.items() if name.startswith(told) for part in parts):
        fields.wrong("command", "must say the port it listens on with {port} (in the command, environment or files)")
    register = str(fields.get("register", text, required=False, default=""))
    if register and not register.startswith("/"):
        fields.wrong("register", f"is {register!r}, expected a path such as /api/models?source={{model}}")
    unknown = sorted(_blanks_in(register) - {"model"})
    if unknown:
        fields.wrong("register", f"has the blank {{{unknown[0]}}}; its one blank is {{model}}")
    served = [str(path) for path in fields.get("served_files", of_type(list), required=False, default=[])]
    for i, path in enumerate(served):
        if not path.startswith("/"):
            fields.wrong(f"served_files[{i}]", f"is {path!r}, expected a path such as /files/")
    health = str(fields.get("health", text))
    if not health.startswith("/"):
        fields.wrong("health", f"is {health!r}, expected a path such as /health")
    seconds = fields.get("start_seconds", of_type(int), required=False, default=120)
    return Tool(
        torch=bool(fields.get("torch", of_type(bool), required=False, default=False)),
        command=tuple(texts["command"]),
        environment={str(key): str(value) for key, value in environment.items()},
        files={str(key): str(value) for key, value in files.items()},
        health=health,
        start_seconds=int(seconds),
        models=tuple(map(str, fields.get("models", of_type(list), required=False, default=[]))),
        keep=tuple(map(str, fields.get("keep", of_type(list), required=False, default=[]))),
        register=register,
        served_files=tuple(served),
        links={str(key): str(value) for key, value in links.items()},
        previews=tuple(previews),
        prepare=tuple(prepare),
        test_models=tuple(test_models),
        **common,
    )


def load_tools(root: Path, names: list[str]) -> list[Tool]:
    """The tools the semester pin names, from `root`'s tools/ folder, in the pin's order."""
    return [load_tool(root / TOOLS_PATH / name) for name in names]


def find_tool(tools: list[Tool], name: str) -> Tool:
    """The tool of that name, or a message listing those the semester has."""
    for tool in tools:
        if tool.name == name:
            return tool
    raise AtelierError("tool-unknown", name=name, known=", ".join(tool.name for tool in tools))
