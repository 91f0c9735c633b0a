"""`atelier install` without installing: the plan, where it comes from, its checks, the package lock.

Nothing here fakes pip. ComfyUI and a custom node come from real git repositories made here
(file:// URLs), and comfy-cli really clones ComfyUI; the steps that run pip are run for real
by tier `install` (tests/install), which installs the committed package lock from the index.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from atelier.cli import cli
from atelier.comfy.server import find_comfyui
from atelier.hpc import install, packages, sources
from atelier.hpc.profiles import load_profile
from atelier.hpc.shared import not_shared, python_not_shared
from atelier.hpc.steps import InstallPlan, run_plan, run_step
from atelier.layout import Layout
from atelier.lessons.pin import load_pin
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]
PIN = ROOT / "workflows" / "pin.yaml"
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
needs_comfy_cli = pytest.mark.skipif(
    importlib.util.find_spec("comfy_cli") is None, reason="comfy-cli is not installed in this environment"
)


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


def lock_line(name: str, version: str) -> str:
    return f"{name}=={version} \\\n    --hash=sha256:{'0' * 64}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A ComfyUI-shaped repository, a custom node's, and a pin with package locks naming their first commits."""
    root = tmp_path_factory.mktemp("site")
    comfy = make_repo(
        root / "ComfyUI",
        {
            "main.py": "print('ComfyUI')\n",
            "nodes.py": "",
            "comfy/__init__.py": "",
            "comfy_extras/__init__.py": "",
            "custom_nodes/example_node.py.example": "",
            "requirements.txt": "comfy-dep==1.0\n",
        },
    )
    node = make_repo(root / "pixel-nodes.git", {"__init__.py": "", "requirements.txt": "pixel-dep==2.0\n"})
    repository = (root / "pixel-nodes.git").as_uri()
    pin = root / "pin" / "pin.yaml"
    (pin.parent / packages.FOLDER).mkdir(parents=True)
    pin.write_text(
        f"semester: 2026-fall\ncomfyui:\n  version: 0.3.64\n  commit: {comfy[0]}\n"
        f"frontend:\n  package: comfyui-frontend-package\n  version: 1.27.10\n"
        f"custom_nodes:\n  - repository: {repository}\n    commit: {node[0]}\n    model_folders: [pixels]\n"
    )
    made = packages.Made("cuda", PYTHON, "linux-x86_64", comfy[0], {repository: node[0]})
    header = packages.HEADER + json.dumps(packages.asdict(made), sort_keys=True)
    (pin.parent / packages.FOLDER / "comfyui-cuda.txt").write_text(
        "\n".join([header, lock_line("torch", "2.9.1"), lock_line("comfy-dep", "1.0"), lock_line("pixel-dep", "2.0")])
        + "\n"
    )
    (pin.parent / packages.FOLDER / "atelier.txt").write_text(
        "\n".join(
            [
                packages.HEADER
                + json.dumps(packages.asdict(packages.Made("any", PYTHON, "linux-x86_64")), sort_keys=True),
                lock_line("click", "8.5.1"),
            ]
        )
        + "\n"
    )
    return {
        "root": root,
        "source": (root / "ComfyUI").as_uri(),
        "pin": pin,
        "pinned": load_pin(pin),
        "node": node,
        "comfy": comfy,
    }


def chosen(site: dict, **given: object) -> install.Sources:
    return sources.Sources(**{"source": site["source"], "pin": str(site["pin"]), **given})  # type: ignore[arg-type]


def plan_for(site: dict, prefix: Path, **given: object) -> InstallPlan:
    return install.build_plan(
        site["pinned"], Layout.at(prefix), chosen(site, **given), project=ROOT, pin_path=site["pin"]
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@needs_git
def test_plan_holds_every_step_in_order(site: dict, tmp_path: Path) -> None:
    plan = plan_for(site, tmp_path / "p")
    assert [step.key for step in plan.steps] == [
        "comfyui-venv",
        "comfyui",
        "comfyui-packages",
        "node-pixel-nodes",
        "models",
        "model-paths",
        "atelier-venv",
        "atelier-packages",
        "atelier",
        "env-file",
        "shared",
    ]
    steps = {step.key: step for step in plan.steps}
    packages_command = steps["comfyui-packages"].commands[-1]
    assert packages_command[-2:] == ["-r", str(site["pin"].parent / packages.FOLDER / "comfyui-cuda.txt")]
    assert "--require-hashes" in packages_command and "--no-deps" in packages_command
    assert "--index-url" not in packages_command  # pip.conf and PIP_INDEX_URL still decide


@needs_git
def test_the_sites_indexes_reach_pips_command_line(site: dict, tmp_path: Path) -> None:
    plan = plan_for(
        site,
        tmp_path / "p",
        package_index="https://pypi.example.edu/simple",
        torch_index="https://torch.example.edu/whl",
    )
    command = next(step for step in plan.steps if step.key == "comfyui-packages").commands[-1]
    assert command[command.index("--index-url") + 1] == "https://pypi.example.edu/simple"
    assert command[command.index("--extra-index-url") + 1] == "https://torch.example.edu/whl"
    wheels = plan_for(site, tmp_path / "q", wheelhouse=str(tmp_path))
    command = next(step for step in wheels.steps if step.key == "atelier-packages").commands[-1]
    assert command[command.index("--no-index") : command.index("--no-index") + 3] == [
        "--no-index",
        "--find-links",
        str(tmp_path),
    ]


@needs_git
def test_dry_run_changes_nothing_and_says_where_each_source_comes_from(site: dict, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    result = CliRunner().invoke(
        cli,
        [
            "install",
            "--prefix",
            str(prefix),
            "--dry-run",
            "--source",
            site["source"],
            "--pin",
            str(site["pin"]),
            "--index-url",
            "https://pypi.example.edu/simple",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"source: {site['source']}  (command line)" in result.output
    assert "package_index: https://pypi.example.edu/simple  (command line)" in result.output
    assert "torch_index: the package lock's  (default)" in result.output
    assert f"check that {site['source']} holds commit {site['comfy'][0]}" in result.output
    assert "11 step(s) would run, 0 already done." in result.output
    assert not prefix.exists()


def test_sources_come_from_the_command_line_then_the_prefix_then_the_profile(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "p")
    profile = load_profile("pegasus")
    chosen_now, origin = sources.choose_sources(layout, {"source": None}, profile)
    assert chosen_now.source == sources.COMFYUI_SOURCE and origin["source"] == "default"
    sources.record_sources(
        layout,
        sources.Sources(
            source="/mirror/ComfyUI", package_index="https://a/simple", cpu=True, python="/usr/bin/python3"
        ),
    )
    again, origin = sources.choose_sources(layout, {"source": None, "cpu": None}, profile)
    assert (again.source, again.package_index, again.cpu, again.python) == (
        "/mirror/ComfyUI",
        "https://a/simple",
        True,
        "/usr/bin/python3",
    )
    assert origin["source"] == origin["cpu"] == "earlier install"
    override, origin = sources.choose_sources(layout, {"source": "/other", "cpu": False}, profile)
    assert (override.source, override.cpu) == ("/other", False) and origin["cpu"] == "command line"


def test_a_record_from_before_the_pin_was_called_pin_still_names_it(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "p")
    layout.install_settings.parent.mkdir(parents=True)
    layout.install_settings.write_text(json.dumps({"source": "/mirror/ComfyUI", "lock": "/old/lock.yaml"}))
    chosen, origin = sources.choose_sources(layout, {}, None)
    assert (chosen.pin, origin["pin"]) == ("/old/lock.yaml", "earlier install")


def test_a_damaged_record_is_said_plainly(tmp_path: Path) -> None:
    layout = Layout.at(tmp_path / "p")
    layout.install_settings.parent.mkdir(parents=True)
    layout.install_settings.write_text("{not json")
    with pytest.raises(AtelierError) as damaged:
        sources.choose_sources(layout, {}, None)
    assert str(damaged.value).startswith(f"The record of how this prefix was installed, {layout.install_settings},")


@needs_git
def test_a_source_without_the_pinned_commit_is_refused_before_cloning(site: dict, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    make_repo(copy, {"main.py": ""})  # like `git init` over a copy of the files: other commits
    with pytest.raises(AtelierError) as refused:
        sources.check_reachable("ComfyUI", str(copy), site["comfy"][0])
    assert refused.value.code == "install-source-commit"
    assert str(refused.value).startswith(f"{copy} does not hold ComfyUI's pinned commit {site['comfy'][0]}")
    with pytest.raises(AtelierError) as absent:
        sources.check_reachable("ComfyUI", str(tmp_path / "nowhere"), site["comfy"][0])
    assert absent.value.code == "install-source-unreachable"
    sources.check_reachable("ComfyUI", site["source"], site["comfy"][0])  # the real one holds it


@needs_git
@needs_comfy_cli
def test_comfyui_is_cloned_by_comfy_cli_and_only_a_proved_checkout_takes_its_place(site: dict, tmp_path: Path) -> None:
    plan = plan_for(site, tmp_path / "p")
    step = next(step for step in plan.steps if step.key == "comfyui")
    layout = plan.layout
    assert not step.done()
    run_step(plan, step)
    assert step.done() and git(layout.comfyui, "rev-parse", "HEAD") == site["comfy"][0]
    assert "DO_NOT_TRACK" in plan.env(step) and plan.env(step)["COMFY_NO_TELEMETRY"] == "1"

    # A mirror that lacks the commit: refused before comfy-cli runs; the good checkout stays.
    other = tmp_path / "other"
    make_repo(other, {"main.py": ""})
    bad = plan_for(site, tmp_path / "p", source=str(other))
    bad_step = next(step for step in bad.steps if step.key == "comfyui")
    before = tree(layout.comfyui / "comfy")
    with pytest.raises(AtelierError) as refused:
        run_step(bad, bad_step)
    assert refused.value.code == "install-source-commit"
    assert tree(layout.comfyui / "comfy") == before and step.done()


@needs_git
def test_a_custom_node_at_another_commit_is_an_error(site: dict, tmp_path: Path) -> None:
    plan = plan_for(site, tmp_path / "p")
    step = next(step for step in plan.steps if step.key == "node-pixel-nodes")
    partial = plan.layout.state / "pixel-nodes.partial"
    subprocess.run(["git", "clone", "-q", site["pinned"].custom_nodes[0].repository, str(partial)], check=True)
    with pytest.raises(AtelierError) as wrong:
        step.action()
    assert wrong.value.code == "install-commit-mismatch"
    assert wrong.value.values["got"] == site["node"][1] and wrong.value.values["expected"] == site["node"][0]
    assert not (plan.layout.custom_nodes / "pixel-nodes").exists()  # never moved into place


def test_git_missing_is_said_plainly(site: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install.shutil, "which", lambda name: None)
    with pytest.raises(AtelierError) as missing:
        plan_for(site, tmp_path / "p")
    assert missing.value.code == "install-git-missing"


@needs_git
def test_an_unwritable_prefix_is_said_plainly(site: dict, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(AtelierError) as refused:
        run_plan(plan_for(site, tmp_path / "a-file" / "p"))
    assert refused.value.code == "install-prefix"


def test_a_cluster_profile_names_prefix_store_and_mirrors(tmp_path: Path) -> None:
    profile = load_profile("pegasus")
    layout, found = install.layout_for(None, "pegasus")
    assert layout is not None and layout.prefix == profile.prefix and layout.models == profile.models
    assert found == profile
    assert install.layout_for(tmp_path, "pegasus")[0].prefix == tmp_path  # --prefix wins
    assert install.layout_for(tmp_path, None)[0].models == tmp_path / "models"
    assert install.layout_for(None, None) == (None, None)
    text = (ROOT / "scripts" / "atelier" / "clusters" / "pegasus.yaml").read_text()
    mirrored = tmp_path / "mirrored.yaml"
    mirrored.write_text(
        text + "comfyui_source: https://git.example.edu/mirrors/ComfyUI.git\n"
        "package_index: https://pypi.example.edu/simple\n"
    )
    site_sources, origin = sources.choose_sources(Layout.at(tmp_path / "p"), {}, load_profile(str(mirrored)))
    assert (
        site_sources.source == "https://git.example.edu/mirrors/ComfyUI.git" and origin["source"] == "cluster profile"
    )
    assert site_sources.package_index == "https://pypi.example.edu/simple"


def dist_info(venv: Path, *names: str) -> None:
    for name in names:
        (venv / "lib" / "python3.11" / "site-packages" / f"{name}.dist-info").mkdir(parents=True)


def test_pytorchs_build_is_compared_not_only_its_version(site: dict, tmp_path: Path) -> None:
    """pip counts 2.9.1+cpu as satisfying torch==2.9.1: the step must see the build itself."""
    lock = packages.read(site["pin"].parent / packages.FOLDER / "comfyui-cuda.txt")
    dist_info(tmp_path, "torch-2.9.1+cpu", "comfy_dep-1.0", "pixel_dep-2.0")
    assert packages.torch_mismatch(tmp_path, lock) == ["torch 2.9.1+cpu (the lock says 2.9.1)"]
    assert packages.differences(tmp_path, lock) == ["torch is 2.9.1+cpu, the lock says 2.9.1"]
    plan = plan_for(site, tmp_path / "p")
    step = next(step for step in plan.steps if step.key == "comfyui-packages")
    shutil.copytree(tmp_path / "lib", plan.layout.comfyui_venv / "lib")
    (plan.layout.comfyui_venv / "bin").mkdir()
    again = next(step for step in plan_for(site, tmp_path / "p").steps if step.key == "comfyui-packages")
    assert not again.done() and again.commands[0][-4:] == ["--yes", "torch", "torchvision", "torchaudio"]
    assert step is not again


def test_differences_name_what_is_extra_missing_or_newer(site: dict, tmp_path: Path) -> None:
    lock = packages.read(site["pin"].parent / packages.FOLDER / "comfyui-cuda.txt")
    dist_info(tmp_path, "torch-2.9.1", "comfy_dep-1.1", "surprise-0.1", "pip-25.0")
    assert packages.differences(tmp_path, lock) == [
        "comfy-dep is 1.1, the lock says 1.0",
        "pixel-dep 2.0 is in the lock but not installed",
        "surprise 0.1 is installed but not in the lock",
    ]


def test_a_lock_made_for_another_pin_or_python_is_refused(site: dict) -> None:
    lock = packages.read(site["pin"].parent / packages.FOLDER / "comfyui-cuda.txt")
    packages.check_matches(lock, site["pinned"], PYTHON)
    with pytest.raises(AtelierError) as stale:
        packages.check_matches(lock, load_pin(PIN), PYTHON)
    assert stale.value.code == "packages-lock-stale"
    with pytest.raises(AtelierError) as other:
        packages.check_matches(lock, site["pinned"], "3.12")
    assert str(other.value).startswith(
        f"The package lock {lock.path} was made for Python {PYTHON}, but the install's Python is 3.12."
    )


def test_a_missing_cpu_lock_says_how_to_make_it(site: dict, tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as missing:
        plan_for(site, tmp_path / "p", cpu=True)
    assert missing.value.code == "packages-lock-missing"
    assert "atelier pin --refresh" in missing.value.hint


def test_the_committed_package_lock_holds_the_pin_and_every_package_by_hash() -> None:
    """The Runbook's 'nothing newer' holds only if the lock matches the pin and pyproject.toml."""
    pin = load_pin(PIN)
    comfyui = packages.read(packages.lock_file(PIN, "comfyui-cuda"))
    packages.check_matches(comfyui, pin, comfyui.made.python)
    text = comfyui.path.read_text()
    assert text.count("--hash=sha256:") == len(comfyui.pins) > 50
    assert [comfyui.version(n) for n in ("torch", "torchvision", "torchaudio")] == ["2.9.1", "0.24.1", "2.9.1"]
    assert comfyui.version("comfyui-frontend-package") == pin.frontend_version
    for node in pin.custom_nodes:  # each pinned node's own packages are locked too
        assert node.name == "ComfyUI-DepthAnythingV2"
        assert comfyui.version("accelerate") and comfyui.version("huggingface-hub")
    atelier = packages.read(packages.lock_file(PIN, "atelier"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in project:
        name, version = re.split(r"==", requirement.split("#")[0].strip())
        assert atelier.version(name) == version.strip(), name


def test_a_python_other_accounts_cannot_reach_is_named(tmp_path: Path) -> None:
    private = tmp_path / "private"
    (private / "bin").mkdir(parents=True)
    python = private / "bin" / "python3"
    python.symlink_to(sys.executable)
    private.chmod(0o700)
    found = python_not_shared(python)
    assert f"{private} (drwx------)" in found
    private.chmod(0o755)
    prefix = tmp_path / "prefix"
    (prefix / "ComfyUI").mkdir(parents=True)
    secret = prefix / "ComfyUI" / "main.py"
    secret.write_text("")
    secret.chmod(0o600)
    assert f"{secret} (-rw-------)" in not_shared(prefix, [])
    secret.chmod(0o644)
    (prefix / ".install").mkdir()
    (prefix / ".install" / "settings.json").write_text("{}")
    os.chmod(prefix / ".install" / "settings.json", stat.S_IRUSR)
    assert not [line for line in not_shared(prefix, []) if str(prefix) in line]


def test_find_comfyui_falls_back_to_the_install_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A maintainer who sourced atelier.env runs `atelier check` with no --comfyui: the prefix's ComfyUI runs."""
    from atelier.cli.comfyui import ComfyChoice

    (tmp_path / "ComfyUI").mkdir()
    (tmp_path / "ComfyUI" / "main.py").write_text("")
    for name in ("COMFYUI_DIR", "COMFYUI_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATELIER_PREFIX", str(tmp_path))
    assert ComfyChoice().install() == (tmp_path / "ComfyUI", tmp_path / "comfyui-venv" / "bin" / "python")
    assert find_comfyui(None, "/usr/bin/python3", str(tmp_path)) == (tmp_path / "ComfyUI", Path("/usr/bin/python3"))


def test_atelier_env_names_the_project_so_atelier_works_from_any_folder(tmp_path: Path) -> None:
    """On a login node or in the nightly job the folder is not the checkout: atelier.env says where it is."""
    layout = Layout.at(tmp_path / "prefix")
    text = install.env_text(layout, load_pin(PIN), ROOT)
    assert f"export ATELIER_PROJECT={ROOT.resolve()}\n" in text
    assert "export ATELIER_CUSTOM_NODES=ComfyUI-DepthAnythingV2\n" in text


@needs_git
def test_locking_from_a_source_without_the_pinned_commit_names_what_it_was_reading(site: dict, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    make_repo(copy, {"requirements.txt": "comfy-dep==1.0\n"})
    with pytest.raises(AtelierError) as refused:
        packages.wanted(site["pinned"], "cuda", str(copy), {}, tmp_path / "scratch")
    assert str(refused.value).startswith(f"{copy} does not hold ComfyUI's pinned commit {site['comfy'][0]}")
    assert (
        packages.requirement_text("ComfyUI", site["source"], site["comfy"][0], "requirements.txt", tmp_path / "scratch")
        == "comfy-dep==1.0\n"
    )


def test_every_file_an_extension_serves_is_in_the_installed_package() -> None:
    """An install is not editable: a ComfyUI extension's page script missing from package-data never loads."""
    from fnmatch import fnmatch

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    extensions = ROOT / "scripts" / "atelier" / "comfy" / "extensions"
    missing = []
    for path in extensions.rglob("*"):
        if path.is_dir() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
            continue
        package = "atelier.comfy.extensions." + path.relative_to(extensions).parts[0]
        inside = path.relative_to(extensions / path.relative_to(extensions).parts[0]).as_posix()
        if not any(fnmatch(inside, pattern) for pattern in data.get(package, [])):
            missing.append(str(path.relative_to(ROOT)))
    assert not missing, f"not in pyproject.toml's package-data: {missing}"
