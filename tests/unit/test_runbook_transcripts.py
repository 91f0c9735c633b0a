"""What the Runbook shows a command printing is what the command printed in this test.

Each transcript on a Runbook page is a golden file in docs/runbook/transcripts/, included
by the page (`--8<--`), never typed into it; the site publishes the page, not the file.
Here each command runs on the test's setup: the project's own profiles, lessons and pin,
with this checkout and temporary folders written as the page's places (the checkout as
/groups/atelier/src/atelier, the web host's folders as /var/www/ood and /etc/ood). A
changed output fails with the diff; remake the files with the command in tests/goldens.py
(REGENERATE) and review it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from atelier.hpc.install import env_text, layout_for
from atelier.hpc.store import Store, declared
from atelier.project import Project
from tests.goldens import REGENERATE, compare

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook"
TRANSCRIPTS = RUNBOOK / "transcripts"
CHECKOUT = "/groups/atelier/src/atelier"  # where First deployment puts the checkout
INCLUDE = re.compile(r'^--8<-- "(docs/runbook/transcripts/[^"]+)"$', re.MULTILINE)
PORTAL_OK = {
    "servername": "ondemand.example.edu",
    "node_uri": "/node",
    "rnode_uri": "/rnode",
    "host_regex": r"gpu[0-9]+\.cluster\.example\.edu",
    "custom_vhost_directives": ["AllowEncodedSlashes NoDecode"],
}


def atelier(*args: str, tmp: Path | None = None, stderr: bool = True) -> tuple[int, str]:
    """(exit code, what the terminal shows: stdout and stderr as they came) of the real command,
    run from the checkout as the page runs it, with its places written as the page's."""
    done = subprocess.run(
        [sys.executable, "-m", "atelier", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    text = done.stdout
    if tmp is not None:
        text = text.replace(str(tmp), "")
    text = text.replace(str(Path(sys.executable).parent), f"{CHECKOUT}/.venv/bin")
    return done.returncode, text.replace(str(ROOT), CHECKOUT)


def first_line(text: str) -> str:
    return text.splitlines(keepends=True)[0]


def profiles_checked(tmp: Path) -> str:
    """First deployment step 3: the first line of each dry run (`| head -n 1`), then lint."""
    shown = []
    for cluster in ("pegasus", "cerberus"):
        code, text = atelier("install", "--cluster", cluster, "--dry-run")
        assert code == 0, text
        shown.append(first_line(text))
    code, text = atelier("lint")
    assert code == 0, text
    return "".join(shown) + text


def profile_field_missing(tmp: Path) -> str:
    """A profile without one GPU's partition, where the checkout keeps it."""
    profile = yaml.safe_load((ROOT / "scripts" / "atelier" / "clusters" / "pegasus.yaml").read_text())
    del profile["gpus"]["v100"]["partition"]
    path = tmp / CHECKOUT.lstrip("/") / "scripts" / "atelier" / "clusters" / "pegasus.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    code, text = atelier("install", "--cluster", str(path), "--dry-run", tmp=tmp)
    assert code == 2, text
    return text


def install_dry_run(tmp: Path) -> str:
    code, text = atelier("install", "--cluster", "pegasus", "--dry-run")
    assert code == 0, text
    return text


def atelier_env(tmp: Path) -> str:
    """What install's step "Write atelier.env" writes for Pegasus's prefix, from this page's checkout."""
    layout, _ = layout_for(None, "pegasus")
    assert layout is not None
    return env_text(layout, Project(ROOT).pin, Path(CHECKOUT))


def models_fetched_again(tmp: Path) -> str:
    """`atelier models fetch --all` on a store a first run filled: each file there and recorded."""
    store = Store(tmp / "models")
    for model in declared(Project(ROOT).modules):
        model.target(store.root).parent.mkdir(parents=True, exist_ok=True)
        model.target(store.root).write_bytes(b"")
        if model.sha256:
            store.mark(model)  # as fetch records a file it downloaded and checked
    # stdout only: stderr holds the progress bars, which a run with nothing to download leaves empty
    code, text = atelier("models", "fetch", "--all", "--store", str(store.root), tmp=tmp, stderr=False)
    assert code == 0, text
    return text


def ood_deploy(tmp: Path, portal: dict[str, object] | None) -> tuple[int, str]:
    """Step 6's deploy, into the web host's folders made under `tmp`, with `portal` as ood_portal.yml."""
    etc = tmp / "etc" / "ood" / "config"
    etc.mkdir(parents=True, exist_ok=True)
    if portal is not None:
        (etc / "ood_portal.yml").write_text(yaml.safe_dump(portal))
    return atelier(
        "ood",
        "deploy",
        str(tmp / "var" / "www" / "ood" / "apps" / "sys" / "comfyui"),
        "--cluster",
        "pegasus",
        "--cluster",
        "cerberus",
        "--portal",
        str(etc / "ood_portal.yml"),
        "--site-file",
        str(etc / "apps" / "comfyui" / "atelier.yml"),
        "--box-site-file",
        str(etc / "apps" / "box" / "atelier.json"),  # never the real /etc/ood
        tmp=tmp,
    )


def deployed(tmp: Path) -> str:
    code, text = ood_deploy(tmp, PORTAL_OK)
    assert code == 0, text
    return text


def deployed_on_a_fresh_portal(tmp: Path) -> str:
    code, text = ood_deploy(tmp, {"servername": "ondemand.example.edu"})
    assert code == 1, text
    return text


def deployed_with_login_hosts_reachable(tmp: Path) -> str:
    """Only the warning: the rest is the deploy above."""
    code, text = ood_deploy(tmp, {**PORTAL_OK, "host_regex": r"[\w.-]+\.arc\.gwu\.edu"})
    assert code == 1, text
    return "".join(line for line in text.splitlines(keepends=True) if line.startswith("Warning:"))


def deployed_without_portal(tmp: Path) -> str:
    code, text = ood_deploy(tmp, None)
    assert code == 2, text
    return text


# golden file -> what makes it; each is included by a Runbook page.
MAKERS: dict[str, Callable[[Path], str]] = {
    "profiles-checked.txt": profiles_checked,
    "profile-field-missing.txt": profile_field_missing,
    "install-dry-run.txt": install_dry_run,
    "atelier-env.txt": atelier_env,
    "models-fetch-again.txt": models_fetched_again,
    "ood-deploy.txt": deployed,
    "ood-deploy-fresh-portal.txt": deployed_on_a_fresh_portal,
    "ood-deploy-login-hosts.txt": deployed_with_login_hosts_reachable,
    "ood-deploy-no-portal.txt": deployed_without_portal,
}


@pytest.mark.parametrize("name", MAKERS)
def test_transcript_is_what_the_command_printed(name: str, tmp_path: Path) -> None:
    compare(TRANSCRIPTS / name, MAKERS[name](tmp_path))


def included() -> dict[str, list[str]]:
    """Each golden transcript a Runbook page includes, with the pages that include it."""
    found: dict[str, list[str]] = {}
    for page in sorted(RUNBOOK.glob("*.md")):
        for path in INCLUDE.findall(page.read_text(encoding="utf-8")):
            found.setdefault(path, []).append(page.name)
    return found


def test_every_transcript_is_shown_and_every_one_shown_is_made_here() -> None:
    made = {f"docs/runbook/transcripts/{name}" for name in MAKERS}
    assert sorted(set(included()) - made) == []  # a page shows a file nothing remakes
    assert sorted(made - set(included())) == []  # a file no page shows
    assert sorted(p.name for p in TRANSCRIPTS.glob("*")) == sorted(MAKERS)  # no file left behind


def test_what_a_page_says_a_command_prints_is_a_golden_file() -> None:
    """After "**It prints:**", the next block is an included transcript, not one typed by hand."""
    typed = []
    for page in sorted(RUNBOOK.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for match in re.finditer(r"\*\*It prints\W", text):
            block = re.search(r"^```[^\n]*\n(.*?)^```", text[match.end() :], re.MULTILINE | re.DOTALL)
            if not block or not INCLUDE.fullmatch(block.group(1).strip()):
                typed.append(f"{page.name}:{text[: match.start()].count(chr(10)) + 1}")
    assert typed == []


def test_the_tests_readme_gives_the_command_that_remakes_golden_files() -> None:
    assert REGENERATE in (ROOT / "tests" / "README.md").read_text(encoding="utf-8")
