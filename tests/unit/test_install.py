"""`atelier install`: the plan, the dry run, telemetry off, idempotence and resuming.

ComfyUI and the custom node come from real git repositories made here (file:// URLs), and
ComfyUI is really cloned and checked out by the pinned comfy-cli. pip is replaced: a small
script records what it was asked to install and leaves the dist-info folders a real install
would, so nothing is downloaded; the environments are made without pip (seconds faster),
with a stand-in that answers comfy-cli's `python -m pip --version`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from atelier.hpc.profiles import load_profile
from atelier.hpc import install
from atelier.cli import cli
from atelier.lessons.pin import CustomNode, Lock, load_lock
from atelier.messages import AtelierError
from atelier.comfy.server import find_comfyui
from atelier.layout import Layout

ROOT = Path(__file__).resolve().parents[2]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_comfy_cli = pytest.mark.skipif(importlib.util.find_spec("comfy_cli") is None,
                                     reason="comfy-cli is not installed in this environment")

FAKE_PIP = '''
import pathlib, sys
venv = pathlib.Path(sys.argv[1]).parent.parent
args = sys.argv[2:]
with (venv / "pip-calls.txt").open("a") as calls:
    calls.write(" ".join(args) + "\\n")
fail = venv / "FAIL"
if fail.is_file() and any(fail.read_text().strip() in arg for arg in args):
    print("pip: could not install", args)
    sys.exit(3)
site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
for arg in args:
    if "==" in arg:
        name, version = arg.split("==")
        (site / f"{name.replace('-', '_')}-{version}.dist-info").mkdir(parents=True, exist_ok=True)
    elif (pathlib.Path(arg) / "pyproject.toml").is_file():
        (venv / "bin" / "atelier").touch()
'''

FAKE_VENV = '''
import pathlib, subprocess, sys
venv = pathlib.Path(sys.argv[1])
subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
pip = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages" / "pip"
pip.mkdir(parents=True, exist_ok=True)
(pip / "__init__.py").write_text("")
(pip / "__main__.py").write_text("")
'''


def git(folder: Path, *args: str) -> str:
    command = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.org", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(folder: Path, files: dict[str, str]) -> list[str]:
    """A git repository with two commits; returns their hashes, oldest first."""
    folder.mkdir(parents=True)
    git(folder, "init", "-q")
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "first")
    (folder / "CHANGES").write_text("second\n")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "second")
    return git(folder, "rev-list", "--reverse", "HEAD").split()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A ComfyUI-shaped repository and a custom node repository; the pin names their first commits."""
    root = tmp_path_factory.mktemp("sources")
    comfy = make_repo(root / "ComfyUI", {
        "main.py": "print('ComfyUI')\n", "nodes.py": "", "comfy/__init__.py": "", "comfy_extras/__init__.py": "",
        "custom_nodes/example_node.py.example": "", "requirements.txt": "comfy-dep==1.0\n",
    })
    node = make_repo(root / "pixel-nodes.git", {"__init__.py": "", "requirements.txt": "pixel-dep==2.0\n"})
    pip, venv = root / "fake_pip.py", root / "fake_venv.py"
    pip.write_text(FAKE_PIP)
    venv.write_text(FAKE_VENV)
    lock = Lock("2026-fall", "0.3.64", comfy[0], "1.27.10",
                [CustomNode((root / "pixel-nodes.git").as_uri(), node[0])])
    lock_file = root / "lock.yaml"
    lock_file.write_text(
        f"semester: 2026-fall\ncomfyui:\n  version: 0.3.64\n  commit: {comfy[0]}\n"
        f"frontend:\n  package: comfyui-frontend-package\n  version: 1.27.10\n"
        f"custom_nodes:\n  - repository: {lock.custom_nodes[0].repository}\n    commit: {node[0]}\n"
    )
    return {"root": root, "source": (root / "ComfyUI").as_uri(), "lock": lock, "lock_file": lock_file,
            "pip": lambda python: [sys.executable, str(pip), str(python)],
            "venv": lambda folder: [sys.executable, str(venv), str(folder)], "node": node}


def plan_for(sources: dict, prefix: Path) -> install.Plan:
    return install.build_plan(sources["lock"], Layout.at(prefix), source=sources["source"], cpu=True,
                              project=ROOT, pip=sources["pip"], venv=sources["venv"])


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@needs_git
def test_plan_holds_every_step_in_order(sources: dict, tmp_path: Path) -> None:
    plan = plan_for(sources, tmp_path / "p")
    assert [step.key for step in plan.steps] == [
        "comfyui-venv", "comfyui", "torch", "comfyui-requirements", "frontend",
        "node-pixel-nodes", "node-pixel-nodes-requirements",
        "models", "model-paths", "atelier-venv", "atelier", "env-file",
    ]
    steps = {step.key: step for step in plan.steps}
    comfy = steps["comfyui"].commands[0]
    assert comfy[comfy.index("--commit") + 1] == sources["lock"].comfyui_commit
    assert comfy[comfy.index("--url") + 1] == sources["source"]
    assert comfy[comfy.index("--workspace") + 1] == str(tmp_path / "p" / "ComfyUI")
    assert {"--skip-manager", "--skip-torch-or-directml", "--skip-requirement", "--cpu"} <= set(comfy)
    node = sources["lock"].custom_nodes[0]
    clone, checkout, _ = steps["node-pixel-nodes"].commands
    assert clone[-2:] == [node.repository, str(tmp_path / "p" / "ComfyUI" / "custom_nodes" / "pixel-nodes")]
    assert checkout[-1] == node.commit
    assert steps["frontend"].commands[0][-1] == "comfyui-frontend-package==1.27.10"
    assert steps["torch"].commands[0][-1] == install.TORCH_INDEX["cpu"]
    assert all(line for step in plan.steps for line in install.describe(step))  # the dry run shows each


@needs_git
def test_every_command_runs_with_telemetry_off(sources: dict, tmp_path: Path) -> None:
    plan = plan_for(sources, tmp_path / "p")
    comfy_cli = [step for step in plan.steps for command in step.commands if "comfy_cli" in command]
    assert comfy_cli, "the plan gets ComfyUI with comfy-cli"
    for step in comfy_cli:
        for command in step.commands:
            assert "--skip-prompt" in command and "--enable-telemetry" not in command
    for step in plan.steps:
        env = plan.env(step)
        assert env["DO_NOT_TRACK"] == "1" and env["COMFY_NO_TELEMETRY"] == "1"
        assert env["PIP_DISABLE_PIP_VERSION_CHECK"] == "1" and env["GIT_TERMINAL_PROMPT"] == "0"


@needs_git
def test_dry_run_changes_nothing(sources: dict, tmp_path: Path) -> None:
    before = tree(sources["root"])
    prefix = tmp_path / "p"
    result = CliRunner().invoke(cli, ["install", "--prefix", str(prefix), "--source", sources["source"],
                                      "--lock", str(sources["lock_file"]), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert not prefix.exists()
    assert tree(sources["root"]) == before
    assert result.output.count("  would run\n") == 12
    assert "comfy_cli --skip-prompt" in result.output
    assert "12 step(s) would run, 0 already done." in result.output


@needs_git
@needs_comfy_cli
def test_install_stops_at_a_failed_step_resumes_and_then_skips_every_step(sources: dict, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    (prefix / "comfyui-venv").mkdir(parents=True)
    (prefix / "comfyui-venv" / "FAIL").write_text("comfyui-frontend-package")  # the fake pip fails the frontend
    seen: list[tuple[str, str]] = []
    with pytest.raises(AtelierError) as failed:
        install.run_plan(plan_for(sources, prefix), lambda step, state: seen.append((step.key, state)))
    assert failed.value.code == "install-step-failed"
    assert failed.value.values["status"] == 3
    log = Path(str(failed.value.values["log"]))
    assert log == prefix / "install-logs" / "05-frontend.log"
    assert "pip: could not install" in log.read_text()
    assert seen[-1] == ("frontend", "running")

    (prefix / "comfyui-venv" / "FAIL").unlink()
    seen.clear()
    plan = plan_for(sources, prefix)
    assert install.run_plan(plan, lambda step, state: seen.append((step.key, state))) == {"done": 8, "skipped": 4}
    assert [key for key, state in seen if state == "skipped"] == [
        "comfyui-venv", "comfyui", "torch", "comfyui-requirements"]

    layout = plan.layout
    assert install.git_head(layout.comfyui) == sources["lock"].comfyui_commit
    assert install.git_head(layout.comfyui / "custom_nodes" / "pixel-nodes") == sources["node"][0]
    assert (layout.comfyui / "extra_model_paths.yaml").read_text() == install.model_paths_text(layout.models)
    assert all((layout.models / folder).is_dir() for folder in ("checkpoints", "loras", "vae"))
    env = (prefix / "atelier.env").read_text()
    assert f"export ATELIER_PREFIX={prefix}\n" in env
    assert f"export COMFYUI_DIR={prefix / 'ComfyUI'}\n" in env
    assert f"export COMFYUI_PYTHON={prefix / 'comfyui-venv' / 'bin' / 'python'}\n" in env
    assert f"export ATELIER_MODELS={prefix / 'models'}\n" in env
    assert "export ATELIER_CUSTOM_NODES=pixel-nodes\n" in env  # what serve lets ComfyUI load
    calls = (layout.comfyui_venv / "pip-calls.txt").read_text().splitlines()
    assert calls[1] == f"-r {layout.comfyui / 'requirements.txt'} requests==2.34.2"  # ComfyUI imports it unlisted
    assert calls[-1] == f"-r {layout.comfyui / 'custom_nodes' / 'pixel-nodes' / 'requirements.txt'}"
    assert (layout.atelier_venv / "pip-calls.txt").read_text() == f"{ROOT}\n"
    config = (layout.state / "comfy-cli-home" / ".config" / "comfy-cli" / "config.ini").read_text()
    assert "tracking" not in config  # comfy-cli's settings stay in the prefix, with no consent recorded

    seen.clear()
    again = plan_for(sources, prefix)
    assert install.run_plan(again, lambda step, state: seen.append((step.key, state))) == {"done": 0, "skipped": 12}
    assert {state for _, state in seen} == {"skipped"}
    assert len((layout.comfyui_venv / "pip-calls.txt").read_text().splitlines()) == len(calls)


@needs_git
def test_a_custom_node_at_another_commit_is_an_error(sources: dict, tmp_path: Path) -> None:
    plan = plan_for(sources, tmp_path / "p")
    step = next(step for step in plan.steps if step.key == "node-pixel-nodes")
    folder = tmp_path / "p" / "ComfyUI" / "custom_nodes" / "pixel-nodes"
    subprocess.run(["git", "clone", "-q", sources["lock"].custom_nodes[0].repository, str(folder)], check=True)
    assert not step.done()
    with pytest.raises(AtelierError) as wrong:
        step.action()
    assert wrong.value.code == "install-commit-mismatch"
    assert wrong.value.values["got"] == sources["node"][1]
    assert wrong.value.values["expected"] == sources["node"][0]


def test_git_missing_is_said_plainly(sources: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    with pytest.raises(AtelierError) as missing:
        plan_for(sources, tmp_path / "p")
    assert missing.value.code == "install-git-missing"


@needs_git
def test_an_unwritable_prefix_is_said_plainly(sources: dict, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(AtelierError) as refused:
        install.run_plan(plan_for(sources, tmp_path / "a-file" / "p"))
    assert refused.value.code == "install-prefix"


def test_a_cluster_profile_names_prefix_and_store(tmp_path: Path) -> None:
    profile = load_profile("pegasus")
    layout = install.layout_for(None, "pegasus")
    assert layout is not None and layout.prefix == profile.prefix and layout.models == profile.models
    assert install.layout_for(tmp_path, "pegasus").prefix == tmp_path  # --prefix wins
    assert install.layout_for(tmp_path, None).models == tmp_path / "models"
    assert install.layout_for(None, None) is None


def test_installed_version_ignores_the_local_build_tag(tmp_path: Path) -> None:
    (tmp_path / "lib" / "python3.11" / "site-packages" / "torch-2.9.1+cu128.dist-info").mkdir(parents=True)
    assert install.installed_version(tmp_path, "torch") == "2.9.1"
    assert install.installed_version(tmp_path, "torchaudio") is None


def test_find_comfyui_falls_back_to_the_install_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A maintainer who sourced atelier.env runs `atelier check` with no --comfyui: the prefix's ComfyUI runs."""
    from atelier.cli.options import comfyui_install

    (tmp_path / "ComfyUI").mkdir()
    (tmp_path / "ComfyUI" / "main.py").write_text("")
    for name in ("COMFYUI_DIR", "COMFYUI_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATELIER_PREFIX", str(tmp_path))
    assert comfyui_install(None, None) == (tmp_path / "ComfyUI", tmp_path / "comfyui-venv" / "bin" / "python")
    assert find_comfyui(None, "/usr/bin/python3", str(tmp_path)) == (tmp_path / "ComfyUI", Path("/usr/bin/python3"))


def test_atelier_env_names_the_project_so_atelier_works_from_any_folder(tmp_path: Path) -> None:
    """On a login node or in the nightly job the folder is not the checkout: atelier.env says where it is."""
    layout = Layout.at(tmp_path / "prefix")
    text = install.env_text(layout, load_lock(ROOT / "workflows" / "lock.yaml"), ROOT)
    assert f"export ATELIER_PROJECT={ROOT.resolve()}\n" in text
