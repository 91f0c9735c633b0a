"""Cluster profiles and the job script `atelier launch` submits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from atelier.comfy.server import LOGIN
from atelier.hpc import slurm
from atelier.hpc.profiles import CLUSTERS, load_profile, profile_names, sbatch_options
from atelier.messages import AtelierError

SHELLCHECK = shutil.which("shellcheck")


@pytest.mark.parametrize("name", ["cerberus", "pegasus", "local"])
def test_every_profile_loads(name: str) -> None:
    profile = load_profile(name)
    assert profile.default_gpu in profile.gpus
    assert 0 < profile.default_hours <= profile.max_hours


def test_profiles_on_disk_are_the_three_we_ship() -> None:
    assert profile_names() == ["cerberus", "local", "pegasus"]


def test_cerberus_teaching_work_goes_to_workshop() -> None:
    cerberus = load_profile("cerberus")
    assert {gpu.partition for gpu in cerberus.gpus.values()} == {"workshop"}


def test_an_unknown_cluster_lists_the_known_ones() -> None:
    with pytest.raises(AtelierError) as err:
        load_profile("orion")
    assert str(err.value) == (
        "There is no cluster profile named 'orion'. Use one of: cerberus, local, pegasus; "
        "or give the path of a profile file."
    )


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (lambda d: d.pop("max_hours"), "max_hours", "is missing"),
        (lambda d: d.update(max_hours="a day"), "max_hours", "is 'a day', expected int"),
        (lambda d: d["gpus"]["a100"].pop("partition"), "gpus.a100.partition", "is missing"),
        (lambda d: d.update(default_gpu="h100"), "default_gpu", "is 'h100', not one of the gpus (v100, a100, l40s)"),
    ],
)
def test_a_broken_profile_names_file_and_field(tmp_path: Path, edit, field: str, problem: str) -> None:
    import yaml

    data = yaml.safe_load((CLUSTERS / "pegasus.yaml").read_text())
    edit(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(AtelierError) as err:
        load_profile(str(path))
    assert err.value.text == f"{path}: '{field}' {problem}."


def test_gpu_and_hours_are_checked_against_the_profile() -> None:
    pegasus = load_profile("pegasus")
    assert pegasus.gpu(None).name == "a100"
    with pytest.raises(
        AtelierError, match="The pegasus cluster has no GPU choice 'h100'. Choose one of: v100, a100, l40s."
    ):
        pegasus.gpu("h100")
    with pytest.raises(AtelierError, match="at most 24 hours, so 48 hours"):
        pegasus.hours(48)
    assert pegasus.hours(None) == 1  # the profile: a lesson fits in one hour


@pytest.mark.parametrize(("hours", "limit"), [(2, "02:00:00"), (0.5, "00:30:00"), (24, "24:00:00")])
def test_time_limit(hours: float, limit: str) -> None:
    assert slurm.time_limit(hours) == limit


@pytest.mark.parametrize("name", ["cerberus", "pegasus", "local"])
def test_launch_script_is_valid_shell_and_asks_for_the_profile(name: str, tmp_path: Path) -> None:
    profile = load_profile(name)
    gpu = profile.gpu(None)
    script = slurm.job_script(profile, gpu, 2, tmp_path / "session", profile.outputs, "/w/txt2img-basics")
    path = tmp_path / "session.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    if SHELLCHECK:
        lint = subprocess.run([SHELLCHECK, "-e", "SC1091", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    headers = [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH")]
    assert headers[0] == "--job-name=atelier-comfyui"
    assert set(sbatch_options(profile, gpu)) <= set(headers)
    assert "--time=02:00:00" in headers
    last = script.splitlines()[-1]
    assert last.startswith("exec ") and " serve " in last and "--module /w/txt2img-basics" in last
    assert '--outputs "$HOME/atelier-outputs"' in last
    assert ("--cpu" in last) == gpu.cpu
    assert "--backup-to box:Atelier --backup-every 15" in last


def test_backup_section_is_checked_field_by_field(tmp_path: Path) -> None:
    source = (CLUSTERS / "pegasus.yaml").read_text()
    for bad, problem in [
        ("every_minutes: 15", "every_minutes: soon"),
        ("remote: box", "remote: [box]"),
        ("folder: Atelier", "folder: Atelier\n  colour: blue"),
    ]:
        path = tmp_path / "site.yaml"
        path.write_text(source.replace(bad, problem, 1))
        with pytest.raises(AtelierError) as wrong:
            load_profile(str(path))
        assert wrong.value.code == "cluster-field" and "'backup." in str(wrong.value), str(wrong.value)
    off = tmp_path / "off.yaml"
    off.write_text(source.replace("every_minutes: 15", "every_minutes: 0"))
    profile = load_profile(str(off))
    assert "--backup-to" not in slurm.serve_command(profile, profile.gpu(None), "/w", "$HOME/o", None)


def test_instructions_give_a_tunnel_and_the_dashboard_link(tmp_path: Path) -> None:
    import dataclasses
    import json

    pegasus = dataclasses.replace(load_profile("pegasus"), ondemand_url="https://ondemand.example.edu/")
    (tmp_path / "connection.json").write_text(json.dumps({"host": "gpu042", "port": 41234}))
    ways = slurm.open_instructions(pegasus, slurm.Session("7", "RUNNING", "gpu042", tmp_path))
    assert ways == {
        "key": str(tmp_path / "gate" / "token"),
        "dashboard": f"https://ondemand.example.edu/rnode/gpu042/41234{LOGIN}",
        "tunnel": "ssh -N -L 8188:gpu042:41234 pegasus.arc.gwu.edu",
        "local": f"http://127.0.0.1:8188{LOGIN}",
    }


def test_serve_loads_only_its_extensions_and_the_pinned_custom_nodes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from atelier.cli.comfyui import pinned_nodes
    from atelier.comfy.server import ComfyServer

    monkeypatch.setenv("ATELIER_CUSTOM_NODES", "pixel-nodes")  # what `atelier install` writes into atelier.env
    args = ComfyServer(tmp_path, Path("python3"), tmp_path, custom_nodes=pinned_nodes()).command()
    allowed = args[args.index("--whitelist-custom-nodes") + 1 :]
    assert "--disable-all-custom-nodes" in args
    assert allowed == [
        "atelier_gate",
        "atelier_drain",
        "atelier_compare",
        "atelier_models",
        "atelier_space",
        "pixel-nodes",
    ]


def test_serve_hands_comfyui_absolute_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ComfyUI runs in its checkout: the OOD job's relative gate/token must not point there."""
    from atelier.comfy.server import ComfyServer

    monkeypatch.chdir(tmp_path)
    server = ComfyServer(
        Path("/opt/ComfyUI"), Path("python3"), Path("."), key_file=Path("gate/token"), outputs=Path("pictures")
    )
    assert server.token_file == tmp_path / "gate" / "token"
    args = server.command()
    assert args[args.index("--output-directory") + 1] == str(tmp_path / "pictures")
    assert args[args.index("--user-directory") + 1] == str(tmp_path / "user")


def test_each_session_skips_comfyuis_template_gallery_but_keeps_a_students_settings(tmp_path: Path) -> None:
    """Every session has a new user folder, so ComfyUI would greet every one as a first visit."""
    import json

    from atelier.comfy.server import ComfyServer

    server = ComfyServer(tmp_path, Path("python3"), tmp_path / "session")
    server._prepare()
    settings = tmp_path / "session" / "user" / "default" / "comfy.settings.json"
    assert json.loads(settings.read_text()) == {
        "Comfy.TutorialCompleted": True,
        "Comfy.Workflow.ShowMissingModelsWarning": False,
    }
    settings.write_text('{"Comfy.TutorialCompleted": true, "Comfy.ColorPalette": "light"}')
    server._prepare()
    assert json.loads(settings.read_text())["Comfy.ColorPalette"] == "light"


def test_a_profile_marked_for_tests_is_never_published_even_with_a_prefix(tmp_path: Path) -> None:
    from atelier.hpc.profiles import installed_profiles

    local = load_profile("local")
    assert local.for_tests
    given = tmp_path / "local.yaml"
    given.write_text((CLUSTERS / "local.yaml").read_text().replace("prefix: null", f"prefix: {tmp_path}"))
    with_prefix = load_profile(str(given))
    assert with_prefix.prefix == tmp_path and installed_profiles([with_prefix, load_profile("pegasus")]) == [
        load_profile("pegasus")
    ]
