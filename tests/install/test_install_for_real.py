"""`atelier install` for real, as a maintainer at a site without GitHub or PyTorch's index.

ComfyUI comes from a local git repository made here from COMFYUI_DIR's files, and each
pinned custom node from a clone of its checkout in CUSTOM_NODES_DIR: comfy-cli and git
really clone them. pip really installs every package of the committed package lock from
the package index this machine's pip is set up for (its cache keeps a re-run fast). Then
an ordinary account, not the one that installed, runs the smoke check of two lessons
(the custom node's included) and launches a session under the local Slurm, from the
prefix alone.

The repository made from COMFYUI_DIR's files holds the pinned files under another commit
than upstream's, so the test's pin names that commit, and its package lock is the
committed one with only the commit it was made for changed to match.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from atelier.hpc import packages
from atelier.layout import Layout
from atelier.lessons.pin import load_pin
from atelier.tools.declaration import load_tool
from tests.slurm.conftest import SlurmCluster, local_cluster
from tests.slurm.test_sessions import log_in, request

ROOT = Path(__file__).resolve().parents[2]
PIN = ROOT / "workflows" / "pin.yaml"
PAGE = ROOT / "docs" / "runbook" / "first-deployment.md"
STUDENT = "atelier-student"
SITE_PYTHON = Path("/usr/bin/python3")  # Debian's: every account can run it
NODES = os.environ.get("CUSTOM_NODES_DIR")
LESSONS = ("txt2img-basics", "depth-controlnet")

pytestmark = [
    pytest.mark.skipif(
        not NODES,
        reason="CUSTOM_NODES_DIR is not set to a folder of the pinned custom nodes' checkouts: see tests/README.md",
    ),
    pytest.mark.skipif(not SITE_PYTHON.is_file(), reason=f"{SITE_PYTHON} is missing: apt-get install python3-venv"),
]


def git(folder: Path, *args: str) -> str:
    command = ["git", "-C", str(folder), "-c", "user.name=atelier-test", "-c", "user.email=test@example.org", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def comfyui_files(checkout: Path) -> list[Path]:
    """The files of a ComfyUI checkout that upstream tracks (no custom nodes, models or outputs)."""
    if (checkout / ".git").exists():
        listed = subprocess.run(
            ["git", "-C", str(checkout), "ls-tree", "-r", "--name-only", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return [
            Path(line)
            for line in listed.stdout.splitlines()
            if (checkout / line).is_file() and not (checkout / line).is_symlink()
        ]
    return [p.relative_to(checkout) for p in checkout.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def atelier(*args: str, env: dict[str, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """The maintainer's atelier: the project's own environment, as First deployment step 2 makes it."""
    return subprocess.run(
        [sys.executable, "-m", "atelier", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def as_student(script: str, home: Path, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """A bash script run by an ordinary account with a clean environment, as a job would be."""
    base = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **env}
    command = [
        "runuser",
        "-u",
        STUDENT,
        "--",
        "env",
        "-i",
        *(f"{k}={v}" for k, v in base.items()),
        "bash",
        "-c",
        script,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/")


@pytest.fixture(scope="module")
def site() -> Iterator[dict[str, Path]]:
    """A folder every account can enter, a ComfyUI mirror, node mirrors, and the test's pin."""
    base = Path(tempfile.mkdtemp(prefix="atelier-install-"))
    base.chmod(0o755)  # the student's jobs read the prefix and the profile from here
    comfyui = Path(os.environ["COMFYUI_DIR"])
    mirror = base / "mirrors" / "ComfyUI"
    mirror.mkdir(parents=True)
    for name in comfyui_files(comfyui):
        (mirror / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(comfyui / name, mirror / name)
    git(mirror, "init", "-q")
    git(mirror, "add", "-A")
    git(mirror, "commit", "-qm", "ComfyUI's files, from COMFYUI_DIR")
    commit = git(mirror, "rev-parse", "HEAD")

    pin = load_pin(PIN)
    nodes = {}
    for node in pin.custom_nodes:
        checkout = Path(NODES) / node.name
        if not (checkout / ".git").exists():
            pytest.skip(f"{checkout} is not a git checkout of {node.repository}")
        nodes[node.name] = base / "mirrors" / node.name
        subprocess.run(["git", "clone", "-q", "--no-local", str(checkout), str(nodes[node.name])], check=True)

    folder = base / "pin"
    (folder / packages.FOLDER).mkdir(parents=True)
    (folder / "pin.yaml").write_text(PIN.read_text().replace(pin.comfyui_commit, commit))
    for lock in (PIN.parent / packages.FOLDER).glob("*.txt"):
        (folder / packages.FOLDER / lock.name).write_text(lock.read_text().replace(pin.comfyui_commit, commit))
    shutil.copytree(ROOT / "tools", base / "tools")  # the tools' declarations, beside the pin's folder
    (base / "mirrors" / "commit").write_text(commit)
    yield {
        "base": base,
        "mirror": mirror,
        "pin": folder / "pin.yaml",
        "prefix": base / "2026-fall",
        "commit": base / "mirrors" / "commit",
        **{f"node:{name}": path for name, path in nodes.items()},
    }
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def student(site: dict[str, Path]) -> Iterator[Path]:
    """An ordinary account with a home of its own."""
    home = site["base"] / "home"
    if subprocess.run(["id", STUDENT], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--no-create-home", "--home-dir", str(home), "--shell", "/bin/bash", STUDENT], check=True
        )
    home.mkdir()
    account = pwd.getpwnam(STUDENT)
    os.chown(home, account.pw_uid, account.pw_gid)
    yield home


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    """The one-node cluster, in a folder the student's sbatch can read slurm.conf from."""
    folder = Path(tempfile.mkdtemp(prefix="atelier-slurm-"))
    folder.chmod(0o755)
    with local_cluster(folder, fail=pytest.fail) as cluster:
        yield cluster
    shutil.rmtree(folder, ignore_errors=True)


def node_mirrors(site: dict[str, Path]) -> dict[str, str]:
    """Each pinned custom node's folder name and the mirror made here."""
    return {key.removeprefix("node:"): str(path) for key, path in site.items() if key.startswith("node:")}


def install_options(site: dict[str, Path]) -> list[str]:
    nodes = [f"--node-source={name}={url}" for name, url in node_mirrors(site).items()]
    return [
        "--prefix",
        str(site["prefix"]),
        "--source",
        str(site["mirror"]),
        *nodes,
        "--pin",
        str(site["pin"]),
        "--python",
        str(SITE_PYTHON),
    ]


def test_a_mirror_without_the_pinned_commit_is_said_plainly(site: dict[str, Path], tmp_path: Path) -> None:
    """The project's real pin against the mirror made here: upstream's commit is not in it."""
    done = atelier(
        "install", "--prefix", str(tmp_path / "prefix"), "--source", str(site["mirror"]), "--python", str(SITE_PYTHON)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    pinned = load_pin(PIN).comfyui_commit
    assert f"Error: {site['mirror']} does not hold ComfyUI's pinned commit {pinned}" in done.stderr
    assert "Traceback" not in done.stderr and "fatal:" not in done.stdout
    assert not (tmp_path / "prefix" / "ComfyUI").exists()  # nothing half-done


def test_a_python_other_accounts_cannot_run_is_refused_before_anything_is_installed(
    site: dict[str, Path], tmp_path: Path
) -> None:
    private = tmp_path / "private"
    subprocess.run([str(SITE_PYTHON), "-m", "venv", "--without-pip", str(private / "venv")], check=True)
    private.chmod(0o700)
    done = atelier(
        "install",
        *install_options(site)[:-2],
        "--prefix",
        str(tmp_path / "prefix"),
        "--python",
        str(private / "venv" / "bin" / "python"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "other accounts cannot read or run" in done.stderr and f"{private} (drwx------)" in done.stderr
    assert not (tmp_path / "prefix" / "comfyui-venv").exists()


def test_the_cpu_build_from_an_index_without_it_is_said_plainly(site: dict[str, Path], tmp_path: Path) -> None:
    """PyPI has no `+cpu` PyTorch: locking that build against it names the missing build."""
    pin = tmp_path / "workflows" / "pin.yaml"
    pin.parent.mkdir()
    shutil.copy(site["pin"], pin)
    shutil.copytree(ROOT / "tools", tmp_path / "tools")  # the tools' declarations, beside workflows/
    nodes = [f"--node-source={name}={url}" for name, url in node_mirrors(site).items()]
    done = atelier(
        "pin",
        "--pin",
        str(pin),
        "--refresh",
        "--cpu",
        "--torch-index",
        "https://pypi.org/simple",
        "--source",
        str(site["mirror"]),
        *nodes,
        "--python",
        str(SITE_PYTHON),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(
        r"Error: The semester's packages could not be resolved by pip \(.*torch==2\.9\.1\+cpu", done.stderr
    ), done.stderr
    assert not (pin.parent / packages.FOLDER / "comfyui-cpu.txt").exists()


def page_blocks(step: int) -> list[str]:
    """The commands under each '**Run:**' of one step of First deployment, in order."""
    body = PAGE.read_text(encoding="utf-8").split(f"\n## {step}. ", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"\*\*Run:\*\*\n\n```bash\n(.*?)```", body, re.S)


def printed_after(step: int, command: str) -> str:
    """The text block the page says `command` prints: the golden file it includes (the unit tier makes it)."""
    body = PAGE.read_text(encoding="utf-8").split(f"\n## {step}. ", 1)[1].split("\n## ", 1)[0]
    block = re.search(re.escape(command) + r"\n```\n\n\*\*It prints:\*\*\n\n```\w*\n(.*?)```", body, re.S).group(1)
    included = re.fullmatch(r'--8<-- "([^"]+)"\n', block)
    return (ROOT / included.group(1)).read_text(encoding="utf-8") if included else block


def literal(block: str, site: dict[str, Path], profile: Path) -> str:
    """The page's command with this machine's places for Pegasus's; nothing else changed."""
    for theirs, ours in (
        (" pegasus", f" {profile}"),
        ("/groups/atelier", str(site["base"])),
        ("<the project's git address>", str(ROOT)),
    ):
        block = block.replace(theirs, ours)
    assert "<" not in block and "example.edu" not in block, block
    return block


def run_as_maintainer(block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block], cwd=cwd, capture_output=True, text=True, timeout=1800
    )


@pytest.mark.timeout(1800)  # the install alone took 479 s here with ComfyUI, InvokeAI and the background remover
def test_first_deployment_followed_literally_then_a_student_runs_lessons_and_a_session(
    site: dict[str, Path], student: Path, slurm: SlurmCluster
) -> None:
    base = site["base"]
    profile = yaml.safe_load((ROOT / "scripts" / "atelier" / "clusters" / "local.yaml").read_text())
    profile.update(
        prefix=str(site["prefix"]),
        models=str(base / "models"),
        comfyui_source=str(site["mirror"]),
        custom_node_sources=node_mirrors(site),
    )
    profile_file = base / "site-profile.yaml"
    profile_file.write_text(yaml.safe_dump(profile))

    # Step 2: the checkout and its environment, as the page says (the clone is of this checkout's HEAD).
    (step2,) = page_blocks(2)[:1]
    done = run_as_maintainer(literal(step2, site, profile_file), base)
    assert done.returncode == 0, done.stdout + done.stderr
    checkout = base / "src" / "atelier"
    assert done.stdout.strip().endswith("atelier, version " + done.stdout.strip().rsplit(" ", 1)[-1])
    # The mirror made from COMFYUI_DIR's files holds the pinned files under another commit: the site's
    # checkout pins that commit, in the pin and in the package lock's record of what it was made for.
    for path in [checkout / "workflows" / "pin.yaml", *(checkout / "workflows" / packages.FOLDER).glob("*.txt")]:
        path.write_text(path.read_text().replace(load_pin(PIN).comfyui_commit, site["commit"].read_text()))

    # Step 4: the dry run, the install, the re-run and atelier.env, each as the page has it.
    dry, first, again, show = (literal(b, site, profile_file) for b in page_blocks(4)[:4])
    planned = run_as_maintainer(dry, checkout)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"source: {site['mirror']}  (cluster profile)" in planned.stdout
    assert "16 step(s) would run, 0 already done." in planned.stdout  # ComfyUI's, the two tools', atelier's

    started = time.monotonic()
    installed = run_as_maintainer(first, checkout)
    first_seconds = time.monotonic() - started
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "16 step(s) run, 0 already done" in installed.stdout
    started = time.monotonic()
    rerun = run_as_maintainer(again, checkout)
    rerun_seconds = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "1 step(s) run, 15 already done" in rerun.stdout and "done    Check that every account" in rerun.stderr
    env_file = run_as_maintainer(show, checkout)
    assert env_file.stdout == literal(
        printed_after(4, "cat /groups/atelier/2026-fall/atelier.env"), site, profile_file
    ), env_file.stdout

    layout = Layout.at(site["prefix"], base / "models")
    comfyui_lock = packages.read(packages.lock_file(checkout / "workflows" / "pin.yaml", "comfyui-cuda"))
    assert packages.differences(layout.comfyui_venv, comfyui_lock) == []  # nothing newer, nothing more
    assert (
        packages.differences(
            layout.atelier_venv,
            packages.read(packages.lock_file(checkout / "workflows" / "pin.yaml", "atelier")),
            own=["atelier"],
        )
        == []
    )
    pin = load_pin(checkout / "workflows" / "pin.yaml")
    for name in pin.tools:  # each tool's own environment holds exactly its lock
        environment = packages.tool_environment(load_tool(checkout / "tools" / name), cpu=False)
        lock = packages.read(packages.lock_file(checkout / "workflows" / "pin.yaml", environment))
        assert packages.differences(layout.tool_venv(name), lock) == [], name
    for venv in (layout.comfyui_venv, *(layout.tool_venv(name) for name in pin.tools), layout.atelier_venv):
        checked = subprocess.run([str(Layout.python(venv)), "-m", "pip", "check"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout
    node = load_pin(checkout / "workflows" / "pin.yaml").custom_nodes[0]
    assert git(layout.custom_nodes / node.name, "rev-parse", "HEAD") == node.commit
    assert (layout.models / "depthanything").is_dir()  # the node's own folder, in the store
    size = subprocess.run(["du", "-sh", str(site["prefix"])], capture_output=True, text=True).stdout.split()[0]
    print(f"\ninstall: first {first_seconds:.0f} s, re-run {rerun_seconds:.0f} s, prefix {size}")

    # Step 4's CPU check of the new prefix, as the page has it, by a student rather than the installer.
    env = {"SLURM_CONF": slurm.env["SLURM_CONF"]}
    cpu_check = literal(page_blocks(4)[4], site, profile_file)
    check = as_student(cpu_check, student, env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(LESSONS)} passed, 0 failed, 0 skipped" in check.stdout, check.stdout
    assert not [path for path in layout.models.rglob("*") if path.is_file()], "test models reached the real store"
    made = subprocess.run(
        ["du", "-sh", str(student / ".cache" / "atelier" / "testmodels")], capture_output=True, text=True
    ).stdout.split()[0]
    print(f"the student's test models for {len(LESSONS)} lessons: {made}")
    report = json.loads((student / "atelier-prefix-check" / "report.json").read_text())
    assert {r["module"] for r in report["results"] if r["status"] == "passed"} == set(LESSONS)

    # And launches a session under Slurm from the profile that names the prefix.
    folder = student / "session"
    launched = as_student(
        f"source {layout.env_file} && atelier launch --cluster {profile_file} "
        f"--module txt2img-basics --workdir {folder} --outputs {student / 'outputs'} "
        f"--user-folder {student / 'comfyui'} --wait 170",
        student,
        env,
        timeout=240,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    job_id = launched.stdout.split("Submitted job ")[1].split()[0]
    port = json.loads((folder / "connection.json").read_text())["port"]
    assert request(port, "GET", "/").status == 403
    cookie = log_in(port, (folder / "gate" / "token").read_text())
    assert request(port, "GET", "/", cookie=cookie).status == 200
    owner = subprocess.run(
        ["squeue", "-h", "-j", job_id, "-o", "%u"], env=slurm.env, capture_output=True, text=True
    ).stdout.strip()
    assert owner == STUDENT
    stopped = as_student(f"source {layout.env_file} && atelier stop {job_id}", student, env, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
