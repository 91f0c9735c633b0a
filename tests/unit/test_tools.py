"""Tools beside ComfyUI without running one: their declarations, the pin's `tools`, their package
locks and install steps, what serve prepares before a tool starts, its kept state, and the ledger
reading what InvokeAI saves.

The tools tier (tests/tools) installs and serves the real InvokeAI and Gradio app; everything here
runs from the committed files and folders made in tmp, without the package index.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from atelier.hpc import install, packages, sources
from atelier.hpc.steps import InstallPlan
from atelier.keep import ledger
from atelier.keep.outputs import OK, read_output
from atelier.layout import Layout
from atelier.lessons.pin import Pin, load_pin
from atelier.messages import AtelierError
from atelier.project import Project
from atelier.tools.declaration import DECLARATION, TOOLS_PATH, Tool, find_tool, load_tool, load_tools
from atelier.tools.server import NO_EGRESS, ToolServer, copy_state
from tests.unit.test_install import PYTHON, lock_line, needs_git
from tests.unit.test_pin import GOOD, ROOT

PIN = ROOT / "workflows" / "pin.yaml"
TOOLS = ROOT / TOOLS_PATH
DECLARED = sorted(path.name for path in TOOLS.iterdir() if (path / DECLARATION).is_file())


# The declarations in tools/ ------------------------------------------------------------------------------


def test_every_declaration_loads_and_the_pin_names_each_one() -> None:
    pin = load_pin(PIN)
    folders = sorted(path.name for path in TOOLS.iterdir() if path.is_dir())
    assert folders == DECLARED  # no folder without its tool.yaml
    assert sorted(pin.tool_names) == DECLARED  # none the pin forgets, none it names without a declaration
    tools = load_tools(ROOT, pin.tool_names)
    assert [tool.name for tool in tools] == ["comfyui", "invokeai", "rembg"]
    comfyui, *others = tools
    assert comfyui.builtin and comfyui.title == "ComfyUI" and not comfyui.command
    for tool in others:
        assert not tool.builtin and tool.command and tool.health.startswith("/"), tool.name
    assert {tool.name: tool.torch for tool in others} == {"invokeai": True, "rembg": False}
    assert all(tool.title and tool.summary and tool.assignments for tool in tools)


@pytest.mark.parametrize("name", DECLARED)
def test_each_tools_picture_is_a_square_png(name: str) -> None:
    tool = load_tool(TOOLS / name)
    assert tool.picture == TOOLS / name / "icon.png"
    with Image.open(tool.picture) as picture:
        picture.load()  # the whole file, not only its header
        assert picture.format == "PNG"
        assert picture.width == picture.height > 0


# A declaration with a mistake --------------------------------------------------------------------------

Edit = Callable[[dict[str, Any], Path], None]


def declaration(tmp_path: Path, edit: Edit, name: str = "rembg") -> Path:
    """A copy of tools/rembg in tmp_path/tools/<name>, its tool.yaml changed by `edit(data, folder)`."""
    folder = tmp_path / "tools" / name
    shutil.copytree(TOOLS / "rembg", folder)
    data = yaml.safe_load((folder / DECLARATION).read_text(encoding="utf-8"))
    edit(data, folder)
    (folder / DECLARATION).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return folder


def setting(**values: Any) -> Edit:
    return lambda data, folder: data.update(values)


def dropping(key: str) -> Edit:
    return lambda data, folder: data.pop(key)


def picture_as(name: str) -> Edit:
    def edit(data: dict[str, Any], folder: Path) -> None:
        shutil.copy2(folder / "icon.png", folder / name)
        data["picture"] = name

    return edit


REMBG_COMMAND = ["{bin}/rembg", "s", "--host", "127.0.0.1", "--port", "{port}"]


def test_a_copy_of_a_declaration_loads_as_the_original(tmp_path: Path) -> None:
    """The cases below change one field of this copy; everything else about it is right."""
    copied = load_tool(declaration(tmp_path, lambda data, folder: None))
    original = load_tool(TOOLS / "rembg")
    assert replace(copied, folder=original.folder, picture=original.picture) == original


@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (setting(command=[*REMBG_COMMAND[:-1], "{prt}"]), "command", "has the blank {prt}; the blanks are base, bin,"),
        (
            setting(environment={"GRADIO_ROOT_PATH": "{root}", "PORT": "{port}"}),
            "environment.GRADIO_ROOT_PATH",
            "has the blank {root}",
        ),
        (setting(files={"{state}/settings.yaml": "port: {prot}"}), "files.{state}/settings.yaml", "the blank {prot}"),
        (setting(prepare=["{pyhton}", "-c", "import rembg"]), "prepare", "has the blank {pyhton}"),
        (dropping("health"), "health", "is missing"),
        (setting(health="gradio_api/info"), "health", "is 'gradio_api/info', expected a path such as /health"),
        (
            setting(links={"{keep}/flagged": "{outputs}/rembg"}),
            "links.{keep}/flagged",
            "must link a folder below {outputs}/ or {state}/ to one below the other",
        ),
        (
            setting(links={"{state}/.gradio/flagged": "/srv/shared"}),
            "links.{state}/.gradio/flagged",
            "must link a folder below {outputs}/ or {state}/",
        ),
        (setting(register="/api/models?source={path}"), "register", "has the blank {path}; its one blank is {model}"),
        (setting(register="api/models?source={model}"), "register", "expected a path such as /api/models"),
        (setting(picture="missing.png"), "picture", "not 'missing.png'"),
        (picture_as("icon.jpg"), "picture", "must be a .png file beside tool.yaml, not 'icon.jpg'"),
        (dropping("picture"), "picture", "is missing"),
        (
            setting(test_models=["testmodels_nothing.py", "--out", "{models}/rembg"]),
            "test_models",
            "names 'testmodels_nothing.py', not a program of atelier.tools",
        ),
        (setting(command=REMBG_COMMAND[:4]), "command", "must say the port it listens on with {port}"),
        (setting(command="rembg s --port {port}"), "command", "expected list"),
        (setting(builtin="invokeai"), "builtin", "is 'invokeai'; only 'comfyui' is built in"),
        (setting(command=[*REMBG_COMMAND, "--css={"]), "command", "has a brace that opens no blank in '--css={'"),
        (
            setting(links={"{outputs}/../../etc": "{state}/x"}),
            "links.{outputs}/../../etc",
            "must link a folder below {outputs}/ or {state}/",
        ),
        (setting(links={"{outputs}/": "{state}/x"}), "links.{outputs}/", "must link a folder below"),
        (setting(previews=["{state}/thumbnails"]), "previews[0]", "expected a folder below {outputs}/"),
        (
            setting(command=REMBG_COMMAND[:4], prepare=["{python}", "--port", "{port}"]),
            "command",
            "must say the port it listens on with {port}",
        ),
    ],
    ids=[
        "unknown-blank-in-command",
        "unknown-blank-in-environment",
        "unknown-blank-in-files",
        "unknown-blank-in-prepare",
        "health-missing",
        "health-not-a-path",
        "link-from-outside",
        "link-to-outside",
        "register-other-blank",
        "register-not-a-path",
        "picture-not-there",
        "picture-not-png",
        "picture-not-said",
        "test-models-unknown-program",
        "no-port",
        "command-not-a-list",
        "builtin-not-comfyui",
        "lone-brace",
        "link-up-and-out",
        "link-is-the-outputs-folder",
        "previews-outside-outputs",
        "port-only-in-prepare",
    ],
)
def test_a_bad_declaration_names_its_file_and_field(tmp_path: Path, edit: Edit, field: str, words: str) -> None:
    folder = declaration(tmp_path, edit)
    with pytest.raises(AtelierError) as refused:
        load_tool(folder)
    assert refused.value.code == "tool-field"
    assert refused.value.text.startswith(f"{folder / DECLARATION}: '{field}' "), refused.value.text
    assert words in refused.value.text
    assert str(folder / DECLARATION) in str(refused.value) and f"'{field}'" in str(refused.value)


@pytest.mark.parametrize("name", ["Rembg", "rem_bg", "2rembg"])
def test_a_tools_folder_name_is_lowercase_letters_digits_and_dashes(tmp_path: Path, name: str) -> None:
    folder = declaration(tmp_path, lambda data, folder: None, name=name)
    with pytest.raises(AtelierError) as refused:
        load_tool(folder)
    assert refused.value.code == "tool-field"
    assert refused.value.text.startswith(f"{folder / DECLARATION}: '(top level)' is in folder {name!r}")


def test_a_tool_the_pin_names_without_a_declaration_is_named(tmp_path: Path) -> None:
    declaration(tmp_path, lambda data, folder: None)
    (tmp_path / "tools" / "krita").mkdir()
    with pytest.raises(AtelierError) as missing:
        load_tools(tmp_path, ["rembg", "krita"])
    assert missing.value.code == "tool-missing"
    assert str(tmp_path / "tools" / "krita" / DECLARATION) in str(missing.value)
    assert "'krita'" in str(missing.value)


# The semester pin's tools ----------------------------------------------------------------------------

INVOKEAI_LINE = "  invokeai: invokeai==6.14.2"


def test_the_pin_names_each_tool_at_one_release(tmp_path: Path) -> None:
    pin = load_pin(PIN)
    assert pin.tools == {"invokeai": "invokeai==6.14.2", "rembg": "rembg[cpu,cli]==2.0.86"}
    assert pin.tool_names == ["comfyui", "invokeai", "rembg"]
    path = tmp_path / "pin.yaml"
    path.write_text(GOOD[: GOOD.index("\ntools:")] + "\n")
    assert load_pin(path).tools == {} and load_pin(path).tool_names == ["comfyui"]  # a semester of ComfyUI alone
    path.write_text(GOOD.replace("rembg[cpu,cli]==2.0.86", "rembg[cli]==2.0.86"))
    assert load_pin(path).tools["rembg"] == "rembg[cli]==2.0.86"


@pytest.mark.parametrize(
    ("new", "field", "words"),
    [
        ("  invokeai: invokeai>=6", "tools.invokeai", "is 'invokeai>=6', expected one package at one release"),
        ("  invokeai: invokeai", "tools.invokeai", "is 'invokeai', expected one package at one release"),
        ("  invokeai: invokeai==6.*", "tools.invokeai", "is 'invokeai==6.*', expected"),
        ("  invokeai: invokeai==6.14.2 torch==2.9.1", "tools.invokeai", "expected one package at one release"),
        ("  invokeai: git+https://github.com/invoke-ai/InvokeAI", "tools.invokeai", "expected one package"),
        ("  comfyui: comfyui==0.3.64", "tools.comfyui", "must be a tool's folder name in tools/ (ComfyUI is pinned"),
        ("  InvokeAI: invokeai==6.14.2", "tools.InvokeAI", "must be a tool's folder name in tools/"),
    ],
    ids=["lower-bound", "no-release", "wildcard", "two-packages", "from-git", "comfyui", "uppercase"],
)
def test_a_bad_tools_entry_in_the_pin_is_named(tmp_path: Path, new: str, field: str, words: str) -> None:
    path = tmp_path / "pin.yaml"
    assert INVOKEAI_LINE in GOOD
    path.write_text(GOOD.replace(INVOKEAI_LINE, new))
    with pytest.raises(AtelierError) as refused:
        load_pin(path)
    assert refused.value.code == "pin-field"
    assert refused.value.text.startswith(f"{path}: '{field}' "), refused.value.text
    assert words in refused.value.text


def test_an_unknown_tool_is_answered_with_the_semesters_tools() -> None:
    tools = Project(ROOT).tools
    assert [tool.name for tool in tools] == ["comfyui", "invokeai", "rembg"]
    assert find_tool(tools, "comfyui").builtin and find_tool(tools, "rembg").title == "Background remover"
    with pytest.raises(AtelierError) as unknown:
        find_tool(tools, "krita")
    assert unknown.value.code == "tool-unknown"
    assert "'krita'" in unknown.value.text
    assert "comfyui, invokeai, rembg" in unknown.value.hint


# Each tool's environment and its package lock ---------------------------------------------------------


def test_a_tool_on_pytorch_gets_a_lock_per_build_and_the_semesters_pytorch() -> None:
    pin = load_pin(PIN)
    invokeai, rembg = load_tools(ROOT, list(pin.tools))
    assert [packages.tool_environment(invokeai, cpu) for cpu in (False, True)] == ["invokeai-cuda", "invokeai-cpu"]
    assert [packages.tool_environment(rembg, cpu) for cpu in (False, True)] == ["rembg", "rembg"]
    for variant in packages.VARIANTS:
        assert packages.tool_requirements(invokeai, pin, variant) == ["invokeai==6.14.2", *packages.TORCH[variant][:2]]
        assert packages.tool_requirements(rembg, pin, variant) == ["rembg[cpu,cli]==2.0.86"]
    assert packages.tool_requirements(invokeai, pin, "cpu")[1:] == ["torch==2.9.1+cpu", "torchvision==0.24.1+cpu"]
    comfyui = packages.read(packages.lock_file(PIN, "comfyui-cuda"))  # the build a site downloads once
    assert packages.tool_requirements(invokeai, pin, "cuda")[1:] == [
        f"torch=={comfyui.version('torch')}",
        f"torchvision=={comfyui.version('torchvision')}",
    ]


@pytest.mark.parametrize(
    ("name", "lock_name", "also"),
    [("invokeai", "invokeai-cuda.txt", ["torch", "torchvision"]), ("rembg", "rembg.txt", ["onnxruntime", "gradio"])],
)
def test_the_committed_tool_lock_is_made_from_the_pins_requirement(name: str, lock_name: str, also: list[str]) -> None:
    pin = load_pin(PIN)
    tool = load_tool(TOOLS / name)
    path = packages.lock_file(PIN, packages.tool_environment(tool, cpu=False))
    assert path == PIN.parent / "requirements" / lock_name
    lock = packages.read(path)
    comfyui = packages.read(packages.lock_file(PIN, "comfyui-cuda"))
    assert lock.made.tool == pin.tools[name]
    assert lock.made.python == comfyui.made.python  # the same Python makes every environment
    packages.check_matches(lock, pin, lock.made.python, name)
    assert lock.version(name) == pin.tools[name].split("==")[1]
    assert all(lock.version(package) for package in also), also  # its extras' (or PyTorch's) packages too
    assert path.read_text(encoding="utf-8").count("--hash=sha256:") == len(lock.pins)
    if tool.torch:
        assert (lock.version("torch"), lock.version("torchvision")) == (
            comfyui.version("torch"),
            comfyui.version("torchvision"),
        )
    else:
        assert lock.version("torch") is None


def test_a_tool_lock_made_for_another_release_is_stale() -> None:
    pin = load_pin(PIN)
    lock = packages.read(packages.lock_file(PIN, "rembg"))
    for tools in ({**pin.tools, "rembg": "rembg[cpu,cli]==2.0.87"}, {**pin.tools, "rembg": "rembg[cli]==2.0.86"}):
        with pytest.raises(AtelierError) as stale:
            packages.check_matches(lock, replace(pin, tools=tools), lock.made.python, "rembg")
        assert stale.value.code == "packages-lock-stale"
        assert str(lock.path) in str(stale.value)
    with pytest.raises(AtelierError) as dropped:  # a tool taken out of the pin has no lock to match
        packages.check_matches(lock, replace(pin, tools={"invokeai": pin.tools["invokeai"]}), lock.made.python, "rembg")
    assert dropped.value.code == "packages-lock-stale"


# Install's steps for each tool ---------------------------------------------------------------------------


def write_lock(path: Path, made: packages.Made, *lines: str) -> None:
    header = packages.HEADER + json.dumps(packages.asdict(made), sort_keys=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def tool_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout's pin and tools/, with package locks made for this Python; returns the pin's path."""
    root = tmp_path_factory.mktemp("tool-site")
    shutil.copytree(TOOLS, root / "tools")
    pin_path = root / "workflows" / "pin.yaml"
    (pin_path.parent / packages.FOLDER).mkdir(parents=True)
    shutil.copy2(PIN, pin_path)
    pin = load_pin(pin_path)
    nodes = {node.repository: node.commit for node in pin.custom_nodes}
    for variant in packages.VARIANTS:
        made = packages.Made(variant, PYTHON, "linux-x86_64", pin.comfyui_commit, nodes)
        write_lock(packages.lock_file(pin_path, f"comfyui-{variant}"), made, lock_line("torch", "2.9.1"))
    write_lock(packages.lock_file(pin_path, "atelier"), packages.Made("any", PYTHON, "linux-x86_64"))
    invokeai = packages.Made("cuda", PYTHON, "linux-x86_64", tool=pin.tools["invokeai"])
    lines = lock_line("invokeai", "6.14.2"), lock_line("torch", "2.9.1")
    write_lock(packages.lock_file(pin_path, "invokeai-cuda"), invokeai, *lines)
    rembg = packages.Made("any", PYTHON, "linux-x86_64", tool=pin.tools["rembg"])
    write_lock(packages.lock_file(pin_path, "rembg"), rembg, lock_line("rembg", "2.0.86"))
    return pin_path


def tool_plan(
    pin_path: Path, prefix: Path, only_tools: list[str] | None = None, pin: Pin | None = None, **given: Any
) -> InstallPlan:
    chosen = sources.Sources(pin=str(pin_path), **given)
    layout = Layout.at(prefix)
    return install.build_plan(
        pin or load_pin(pin_path), layout, chosen, project=ROOT, pin_path=pin_path, only_tools=only_tools
    )


@needs_git
def test_installing_one_tool_plans_only_its_own_environment(tool_site: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    plan = tool_plan(tool_site, prefix, ["rembg"])
    assert [step.key for step in plan.steps] == ["rembg-venv", "rembg-packages", "rembg-prepare"]
    steps = {step.key: step for step in plan.steps}
    venv = prefix / "rembg-venv"
    python = str(venv / "bin" / "python")
    assert steps["rembg-venv"].commands == [[sys.executable, "-m", "venv", "--clear", str(venv)]]
    command = steps["rembg-packages"].commands[-1]
    assert command[0] == python and "--require-hashes" in command and "--no-deps" in command
    assert command[-2:] == ["-r", str(tool_site.parent / packages.FOLDER / "rembg.txt")]
    declared = load_tool(TOOLS / "rembg").prepare
    assert declared[0] == "{python}"
    assert steps["rembg-prepare"].commands == [[python, *declared[1:]]]
    assert not prefix.exists()  # a plan changes nothing


@needs_git
def test_only_a_tool_on_pytorch_gets_pytorchs_index(tool_site: Path, tmp_path: Path) -> None:
    plan = tool_plan(
        tool_site,
        tmp_path / "p",
        ["invokeai", "rembg"],
        package_index="https://pypi.example.edu/simple",
        torch_index="https://torch.example.edu/whl",
    )
    steps = {step.key: step for step in plan.steps}
    assert list(steps) == ["invokeai-venv", "invokeai-packages", "rembg-venv", "rembg-packages", "rembg-prepare"]
    invokeai, rembg = steps["invokeai-packages"].commands[-1], steps["rembg-packages"].commands[-1]
    assert invokeai[invokeai.index("--extra-index-url") + 1] == "https://torch.example.edu/whl"
    assert "--extra-index-url" not in rembg
    assert rembg[rembg.index("--index-url") + 1] == "https://pypi.example.edu/simple"
    assert invokeai[-1] == str(tool_site.parent / packages.FOLDER / "invokeai-cuda.txt")
    assert "invokeai==6.14.2, PyTorch 2.9.1 CUDA" in steps["invokeai-packages"].title


@needs_git
def test_the_full_install_makes_every_tools_environment(tool_site: Path, tmp_path: Path) -> None:
    plan = tool_plan(tool_site, tmp_path / "p")
    node = f"node-{load_pin(tool_site).custom_nodes[0].name}"
    assert [step.key for step in plan.steps] == [
        "comfyui-venv",
        "comfyui",
        "comfyui-packages",
        node,
        "models",
        "model-paths",
        "invokeai-venv",
        "invokeai-packages",
        "rembg-venv",
        "rembg-packages",
        "rembg-prepare",
        "atelier-venv",
        "atelier-packages",
        "atelier",
        "env-file",
        "shared",
    ]


@needs_git
def test_a_tools_plan_refuses_an_unknown_tool_a_stale_lock_and_a_missing_build(tool_site: Path, tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as unknown:
        tool_plan(tool_site, tmp_path / "p", ["krita"])
    assert unknown.value.code == "tool-unknown" and "invokeai, rembg" in str(unknown.value)
    pin = load_pin(tool_site)
    moved = replace(pin, tools={**pin.tools, "rembg": "rembg[cpu,cli]==2.0.87"})
    with pytest.raises(AtelierError) as stale:
        tool_plan(tool_site, tmp_path / "p", ["rembg"], pin=moved)
    assert stale.value.code == "packages-lock-stale"
    assert str(tool_site.parent / packages.FOLDER / "rembg.txt") in str(stale.value)
    # The CPU build: rembg's one lock serves it; InvokeAI needs its own, not made here.
    assert [step.key for step in tool_plan(tool_site, tmp_path / "p", ["rembg"], cpu=True).steps][0] == "rembg-venv"
    with pytest.raises(AtelierError) as missing:
        tool_plan(tool_site, tmp_path / "p", ["invokeai"], cpu=True)
    assert missing.value.code == "packages-lock-missing"
    assert str(tool_site.parent / packages.FOLDER / "invokeai-cpu.txt") in str(missing.value)


# What serve prepares before a tool starts ----------------------------------------------------------------


def server_for(tool: Tool, tmp_path: Path, **given: Any) -> ToolServer:
    return ToolServer(
        tool,
        Path(sys.executable),  # a Python that exists: the tool's own is not needed to prepare
        tmp_path / "session",
        outputs=tmp_path / "outputs",
        models=tmp_path / "store",
        base="/node/gpu001/8080/",
        state=tmp_path / "state",
        tool_port=43123,
        **given,
    )


def test_before_a_tool_starts_its_links_files_and_environment_are_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.example.edu:3128")  # the node's own: never for a tool
    tool = replace(
        load_tool(TOOLS / "rembg"),
        environment={"TOOL_PORT": "{port}", "TOOL_CACHE": "{state}/cache", "TOOL_ROOT": "{base}"},
        files={"{state}/config/settings.yaml": "port: {port}\nroot: {base}\nmodels: {models}/rembg\n"},
        links={"{outputs}/tool/tensors": "{state}/tensors", "{state}/.gradio/flagged": "{outputs}/rembg"},
    )
    outputs, state = tmp_path / "outputs", tmp_path / "state"
    (outputs / "tool" / "tensors").mkdir(parents=True)  # a real folder where a link goes: the student's files
    (outputs / "tool" / "tensors" / "mine.png").write_bytes(b"the student's")
    server = server_for(tool, tmp_path)
    env = server._prepare()

    def set_aside() -> list[Path]:
        return [path for path in (outputs / "tool").iterdir() if path.name.startswith("tensors (set aside ")]

    link = outputs / "tool" / "tensors"
    assert link.is_symlink() and link.resolve() == (state / "tensors").resolve() and (state / "tensors").is_dir()
    [aside] = set_aside()
    assert not aside.is_symlink() and (aside / "mine.png").read_bytes() == b"the student's"
    flagged = state / ".gradio" / "flagged"
    assert flagged.is_symlink() and flagged.resolve() == (outputs / "rembg").resolve() and flagged.is_dir()
    assert (state / "config" / "settings.yaml").read_text() == (
        f"port: 43123\nroot: /node/gpu001/8080\nmodels: {(tmp_path / 'store').resolve()}/rembg\n"
    )
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        assert env[name] == NO_EGRESS[name] == "http://127.0.0.1:9", name
    assert env["no_proxy"] == "127.0.0.1,localhost"
    assert (env["TOOL_PORT"], env["TOOL_ROOT"]) == ("43123", "/node/gpu001/8080")
    assert env["TOOL_CACHE"] == str(state.resolve() / "cache")
    assert env["HOME"] == str(state.resolve())
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)

    server._prepare()  # the next session on the same node: the links stand, nothing more is set aside
    assert link.is_symlink() and set_aside() == [aside] and (aside / "mine.png").is_file()


@pytest.mark.parametrize("name", ["invokeai", "rembg"])
def test_each_declared_tool_is_prepared_with_every_blank_filled(tmp_path: Path, name: str) -> None:
    tool = load_tool(TOOLS / name)
    env = server_for(tool, tmp_path)._prepare()
    for variable in tool.environment:
        assert "{" not in env[variable] and "}" not in env[variable], (variable, env[variable])
    assert env[{"invokeai": "INVOKEAI_PORT", "rembg": "GRADIO_ROOT_PATH"}[name]] in ("43123", "/node/gpu001/8080")
    for path in tool.files:
        written = Path(path.replace("{state}", str(tmp_path / "state")))
        assert written.is_file() and "{" not in written.read_text(), path
    for path in tool.links:
        link = Path(path.replace("{state}", str(tmp_path / "state")).replace("{outputs}", str(tmp_path / "outputs")))
        assert link.is_symlink() and link.resolve().is_dir(), path


def test_a_tool_not_installed_is_said_before_anything_is_made(tmp_path: Path) -> None:
    server = ToolServer(load_tool(TOOLS / "invokeai"), tmp_path / "invokeai-venv" / "bin" / "python", tmp_path / "s")
    with pytest.raises(AtelierError) as missing:
        server._prepare()
    assert missing.value.code == "tool-not-installed"
    assert str(missing.value).startswith(f"InvokeAI is not installed here: {tmp_path / 'invokeai-venv/bin/python'}")
    assert not (tmp_path / "s").exists()


def write_rows(db: Path, *names: str) -> None:
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("CREATE TABLE IF NOT EXISTS images (name TEXT)")
        connection.executemany("INSERT INTO images VALUES (?)", [(name,) for name in names])


def read_rows(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as connection:
        return [row[0] for row in connection.execute("SELECT name FROM images ORDER BY name")]


def test_what_a_tool_keeps_comes_to_the_node_and_back(tmp_path: Path) -> None:
    keep = tmp_path / "home" / "invokeai"
    (keep / "databases").mkdir(parents=True)
    write_rows(keep / "databases" / "invokeai.db", "monday.png")
    server = server_for(load_tool(TOOLS / "invokeai"), tmp_path, keep=keep)
    env = server._prepare()
    on_node = Path(env["INVOKEAI_DB_DIR"]) / "invokeai.db"
    assert on_node.is_relative_to((tmp_path / "state").resolve())  # SQLite works on the node's own disk
    assert read_rows(on_node) == ["monday.png"]
    write_rows(on_node, "tuesday.png")
    server.sync()
    assert read_rows(keep / "databases" / "invokeai.db") == ["monday.png", "tuesday.png"]


def test_copy_state_copies_a_database_being_written_and_leaves_its_journals(tmp_path: Path) -> None:
    source = tmp_path / "databases"
    (source / "boards").mkdir(parents=True)
    (source / "boards" / "mine.json").write_text('{"name": "studies"}')
    (source / "old.db-journal").write_bytes(b"left over")
    writer = sqlite3.connect(source / "invokeai.db")
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in the -wal file, as while a tool runs
        writer.execute("CREATE TABLE images (name TEXT)")
        writer.executemany("INSERT INTO images VALUES (?)", [("a.png",), ("b.png",)])
        writer.commit()
        assert (source / "invokeai.db-wal").stat().st_size > 0 and (source / "invokeai.db-shm").is_file()
        copy_state(source, tmp_path / "copy")
    finally:
        writer.close()
    dest = tmp_path / "copy"
    assert sorted(path.relative_to(dest).as_posix() for path in dest.rglob("*")) == [
        "boards",
        "boards/mine.json",
        "invokeai.db",
    ]
    assert (dest / "boards" / "mine.json").read_text() == '{"name": "studies"}'
    assert read_rows(dest / "invokeai.db") == ["a.png", "b.png"]


# The ledger and InvokeAI's pictures ---------------------------------------------------------------------

INVOKEAI_METADATA = {
    "positive_prompt": "a fox",
    "negative_prompt": "",
    "seed": 7,
    "steps": 2,
    "cfg_scale": 7.5,
    "scheduler": "euler",
    "model": {"name": "sd15", "key": "k"},
    "width": 64,
    "height": 64,
    "app_version": "6.14.2",
}


def invokeai_picture(path: Path) -> Path:
    """A PNG as InvokeAI saves it: its settings as JSON in one text chunk."""
    info = PngInfo()
    info.add_text("invokeai_metadata", json.dumps(INVOKEAI_METADATA))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), "orange").save(path, pnginfo=info)
    return path


def test_the_ledger_reads_the_settings_invokeai_saves(tmp_path: Path) -> None:
    out = read_output(invokeai_picture(tmp_path / "images" / "x.png"), "images/x.png")
    assert out.status == OK and out.kind == "image" and (out.width, out.height) == (64, 64)
    assert out.settings == {
        "model": "sd15",
        "seed": 7,
        "steps": 2,
        "cfg": 7.5,
        "sampler": "euler",
        "positive": "a fox",
        "negative": "",
    }
    assert out.params["InvokeAI.app_version"] == "6.14.2" and out.params["InvokeAI.width"] == 64
    assert "InvokeAI.seed" not in out.params and "InvokeAI.model" not in out.params  # in their own columns


def test_invokeais_thumbnails_are_not_in_the_ledger(tmp_path: Path) -> None:
    """serve marks the declaration's `previews` folders; any other folder named thumbnails is work as usual."""
    outputs = tmp_path / "outputs"
    invokeai_picture(outputs / "invokeai" / "images" / "x.png")
    tool = load_tool(ROOT / "tools" / "invokeai")
    server = ToolServer(tool, Path(sys.executable), tmp_path / "session", outputs=outputs)
    server._prepare()
    previews = outputs / "invokeai" / "images" / "thumbnails"
    assert (previews / ledger.PREVIEWS).is_file()
    Image.new("RGB", (16, 16), "orange").save(previews / "x.webp")
    (outputs / "thumbnails").mkdir()
    Image.new("RGB", (16, 16), "orange").save(outputs / "thumbnails" / "cat.png")  # a student's own folder
    assert sorted(name for name, _ in ledger.walk(outputs)) == ["invokeai/images/x.png", "thumbnails/cat.png"]
    fresh, _ = ledger.scan(outputs)
    assert sorted(output.file for output in fresh) == ["invokeai/images/x.png", "thumbnails/cat.png"]
    row, _ = ledger.rows(outputs)
    assert (row.settings["seed"], row.settings["positive"], row.params["InvokeAI.app_version"]) == (
        7,
        "a fox",
        "6.14.2",
    )
