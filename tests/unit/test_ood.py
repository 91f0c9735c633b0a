"""The Open OnDemand app: every template rendered by Ruby's ERB for every form choice."""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from atelier.comfy.server import LOGIN
from atelier.hpc import ood
from atelier.hpc.profiles import Gpu, Profile, atelier_command, load_profile, sbatch_options
from atelier.lessons.modules import all_modules, ordered
from atelier.tools.declaration import load_tool
from tests.erb import NO_RUBY, RUBY, render, rendered

pytestmark = pytest.mark.skipif(RUBY is None, reason=NO_RUBY)
ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = ["cerberus", "pegasus", "local"]
PROFILES = [load_profile(name) for name in CLUSTERS]
CHOICES = [(p, g) for p in PROFILES for g in p.gpus.values()]
CHOICE_IDS = [f"{p.name}:{g.name}" for p, g in CHOICES]
SHELLCHECK = shutil.which("shellcheck")
# before.sh and after.sh are sourced by OOD's job wrapper, which defines host, port,
# find_port, create_passwd, wait_until_port_used and clean_up: not errors in a fragment.
FRAGMENT = ["-s", "bash", "-e", "SC2154,SC2034"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ood")
    ood.deploy(
        folder / "app", folder / "atelier.yml", PROFILES, all_modules(ROOT / "workflows"), app=ROOT / "ood" / "comfyui"
    )
    return folder / "atelier.yml"


def test_deploy_ships_the_app_and_every_lesson(site: Path) -> None:
    app = site.parent / "app"
    for name in (
        "manifest.yml",
        "form.yml.erb",
        "submit.yml.erb",
        "view.html.erb",
        "info.html.erb",
        "completed.html.erb",
        "template/before.sh.erb",
        "template/script.sh.erb",
        "template/after.sh.erb",
    ):
        assert (app / name).is_file(), name
    shipped = sorted(p.name for p in (app / "template" / "workflows").iterdir())
    assert shipped == sorted(m.slug for m in all_modules(ROOT / "workflows"))
    assert (app / "template" / "workflows" / "txt2img-basics" / "workflow.json").is_file()


def test_form_offers_each_cluster_its_own_gpus_and_every_lesson(site: Path) -> None:
    form = yaml.safe_load(rendered("form.yml.erb", site))
    assert form["cluster"] == ["cerberus", "pegasus", "local"]
    assert form["form"] == ["cluster", "gpu", "hours", "lesson", "output_folder"]
    gpu_options = {option[1]: option for option in form["attributes"]["gpu"]["options"]}
    assert set(gpu_options) == set(CHOICE_IDS)
    a100 = gpu_options["pegasus:a100"]
    assert a100[0] == "NVIDIA A100 (80 GB)"
    hidden = {key for extra in a100[2:] for key, value in extra.items() if value is False}
    assert hidden == {"data-option-for-cluster-cerberus", "data-option-for-cluster-local"}
    lessons = form["attributes"]["lesson"]["options"]
    assert lessons[0] == ["None: an empty canvas", ""]
    assert [slug for _, slug in lessons[1:]] == [m.slug for m in ordered(all_modules(ROOT / "workflows"))]
    assert [title for title, _ in lessons[1:]] == [m.title for m in ordered(all_modules(ROOT / "workflows"))]
    assert form["attributes"]["hours"]["max"] == 24
    assert form["attributes"]["hours"]["value"] == min(p.default_hours for p in PROFILES)


def test_the_browser_can_enforce_each_clusters_hour_limit(site: Path) -> None:
    """OOD's form script reads limits only from a select's options, so each GPU choice carries its cluster's."""
    form = yaml.safe_load(rendered("form.yml.erb", site))
    limits = {}
    for option in form["attributes"]["gpu"]["options"]:
        extra = {key: value for part in option[2:] for key, value in part.items()}
        limits[option[1]] = extra.get("data-max-hours")
    assert limits == {f"{p.ood_cluster}:{g.name}": p.max_hours for p, g in CHOICES}
    assert not [key for key in form["attributes"]["hours"] if key.startswith("data-")]  # ignored there


def test_the_clusters_are_ood_s_own(site: Path) -> None:
    """The form names its clusters; OOD offers those of them it knows and the student may use."""
    form = yaml.safe_load(rendered("form.yml.erb", site))
    assert "options" not in form["attributes"]["cluster"]
    assert form["attributes"]["output_folder"]["value"] == "$HOME/atelier-outputs"
    assert form["attributes"]["output_folder"]["help"].endswith(
        "Once you connect Box, the folder is copied there during the session and when it ends."
    )


@pytest.mark.parametrize(("profile", "gpu"), CHOICES, ids=CHOICE_IDS)
def test_submit_asks_slurm_for_what_the_profile_says(site: Path, profile: Profile, gpu: Gpu) -> None:
    submit = yaml.safe_load(
        rendered(
            "submit.yml.erb", site, cluster=profile.ood_cluster, gpu=f"{profile.ood_cluster}:{gpu.name}", hours="3"
        )
    )
    assert submit["batch_connect"]["template"] == "basic"
    assert submit["script"]["wall_time"] == 3 * 3600
    assert submit["script"]["native"] == sbatch_options(profile, gpu)


def test_pegasus_a100_asks_for_that_card() -> None:
    pegasus = load_profile("pegasus")
    assert sbatch_options(pegasus, pegasus.gpu("a100")) == [
        "--partition=gpu",
        "--gres=gpu:a100:1",
        "--cpus-per-task=4",
        "--mem=16G",
    ]


def test_submit_refuses_a_gpu_from_another_cluster(site: Path) -> None:
    result = render("submit.yml.erb", site, cluster="cerberus", gpu="pegasus:a100", hours="2")
    assert result.returncode != 0
    assert "NVIDIA A100 (80 GB) is not on Cerberus: pick a GPU from that cluster's list." in result.stderr


@pytest.mark.parametrize("hours", ["0", "25", "lots"])
def test_submit_refuses_hours_out_of_range(site: Path, hours: str) -> None:
    result = render("submit.yml.erb", site, cluster="pegasus", gpu="pegasus:a100", hours=hours)
    assert result.returncode != 0
    assert f'Sessions on this cluster can last 1 to 24 hours; you asked for "{hours}".' in result.stderr


def _job_scripts(site: Path, profile: Profile, gpu: Gpu, lesson: str, folder: Path) -> dict[str, Path]:
    values = {
        "cluster": profile.ood_cluster,
        "gpu": f"{profile.ood_cluster}:{gpu.name}",
        "hours": "2",
        "lesson": lesson,
        "output_folder": "$HOME/atelier-outputs",
    }
    scripts = {}
    for name in ("before.sh", "script.sh", "after.sh"):
        scripts[name] = folder / name
        scripts[name].write_text(rendered(f"template/{name}.erb", site, **values), encoding="utf-8")
    return scripts


@pytest.mark.parametrize("lesson", ["", "txt2img-basics"])
@pytest.mark.parametrize(("profile", "gpu"), CHOICES, ids=CHOICE_IDS)
def test_job_scripts_are_valid_shell(site: Path, tmp_path: Path, profile: Profile, gpu: Gpu, lesson: str) -> None:
    scripts = _job_scripts(site, profile, gpu, lesson, tmp_path)
    for name, path in scripts.items():
        syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{name}: {syntax.stderr}"
    script = scripts["script.sh"].read_text()
    assert "--listen 0.0.0.0" in script and "--session-key-file gate/token" in script
    assert ("--cpu" in script) == gpu.cpu
    assert ("--share-gb" in script) == (gpu.fence_gb is not None)  # a shard's session keeps to its memory
    assert ("--module txt2img-basics" in script) == bool(lesson)
    assert "--backup-to box:Atelier --backup-every 15" in script  # from the profile's backup section
    # OOD submits with --export NONE: the command is absolute, never found through PATH.
    command = next(line for line in script.splitlines() if line.startswith("exec "))
    assert command.startswith(f"exec {atelier_command(profile)[0]} ") and command.split()[1].startswith("/")
    if profile.prefix:
        assert f"source {profile.prefix}/atelier.env" in script
        assert command.startswith(f"exec {profile.prefix}/atelier-venv/bin/atelier serve ")
    if profile.models:
        assert f"--models {profile.models}" in script


@pytest.mark.skipif(SHELLCHECK is None, reason="shellcheck not found: run ./dev test as root")
@pytest.mark.parametrize("lesson", ["", "txt2img-basics"])
@pytest.mark.parametrize(("profile", "gpu"), CHOICES, ids=CHOICE_IDS)
def test_job_scripts_pass_shellcheck(site: Path, tmp_path: Path, profile: Profile, gpu: Gpu, lesson: str) -> None:
    for name, path in _job_scripts(site, profile, gpu, lesson, tmp_path).items():
        extra = [] if name == "script.sh" else FRAGMENT
        lint = subprocess.run([SHELLCHECK, *extra, str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, f"{name}:\n{lint.stdout}"


def test_the_output_folder_expands_home_and_runs_nothing(site: Path, tmp_path: Path) -> None:
    """A folder name is data: $HOME is filled in, but a command in it never runs."""
    marker = tmp_path / "ran"
    folder = f'$HOME/my art/"quoted" `touch {marker}` $(touch {marker})'
    values = {"cluster": "local", "gpu": "local:cpu", "hours": "1", "lesson": "", "output_folder": folder}
    config = yaml.safe_load(site.read_text())
    config["choices"]["local:cpu"]["atelier"] = ["printf", "%s\\n"]  # prints the arguments serve would get
    printing = tmp_path / "atelier.yml"
    printing.write_text(yaml.safe_dump(config))
    script = tmp_path / "script.sh"
    script.write_text(rendered("template/script.sh.erb", printing, **values), encoding="utf-8")
    env = {**os.environ, "host": "node1", "port": "8188", "HOME": "/home/student"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    args = done.stdout.splitlines()
    assert args[args.index("--outputs") + 1] == f'/home/student/my art/"quoted" `touch {marker}` $(touch {marker})'
    assert args[args.index("--port") + 1] == "8188"
    assert not marker.exists()


def test_before_makes_a_private_256_bit_key(site: Path, tmp_path: Path) -> None:
    _job_scripts(site, PROFILES[2], PROFILES[2].gpu("cpu"), "", tmp_path)
    helpers = 'find_port() { echo 40123; }; create_passwd() { tr -cd "a-zA-Z0-9" < /dev/urandom | head -c"$1"; }'
    done = subprocess.run(
        ["bash", "-c", f'{helpers}; host=node1; source before.sh; echo "$port"'],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    key = tmp_path / "gate" / "token"
    assert done.stdout.splitlines()[-1] == "40123"
    assert len(key.read_text()) == 43 and key.read_text().isalnum()
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.read_text() not in done.stdout


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(values)
        if tag == "input":
            self.inputs[values.get("name", "")] = values.get("value", "")


def test_view_posts_the_key_to_the_gate_never_in_a_url(site: Path) -> None:
    key = "k" * 43
    page = _Forms()
    page.feed(rendered("view.html.erb", site, host="gpu042", port=41234, password=key))
    assert page.forms == [{"action": f"/rnode/gpu042/41234{LOGIN}", "method": "post", "target": "_blank"}]
    assert page.inputs == {"token": key, "base": "/rnode/gpu042/41234/"}
    assert key not in page.forms[0]["action"]


def test_the_job_script_is_executable_as_ood_runs_it(site: Path) -> None:
    """OOD gives each rendered file its .erb's mode and runs ./script.sh itself."""
    for app in (ROOT / "ood" / "comfyui", site.parent / "app"):
        assert (app / "template" / "script.sh.erb").stat().st_mode & 0o111 == 0o111, app
    tracked = subprocess.run(
        ["git", "ls-files", "-s", "ood/comfyui/template/script.sh.erb"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert not tracked or tracked.startswith("100755 "), tracked  # in a clone, too


def test_info_and_completed_pages_say_where_the_work_is(site: Path, tmp_path: Path) -> None:
    info = rendered(
        "info.html.erb",
        site,
        output_folder="/home/ada/atelier-outputs",
        lesson="txt2img-basics",
        staged_root=str(tmp_path),
    )
    assert "/home/ada/atelier-outputs" in info and "Workflows" in info
    done = rendered("completed.html.erb", site, output_folder="/home/ada/atelier-outputs")
    assert "/home/ada/atelier-outputs" in done and "Files" in done
    # The form's own starting value reads as the Files app shows it, not as a shell variable.
    for page in (
        rendered("info.html.erb", site, output_folder="$HOME/atelier-outputs", lesson="", staged_root=str(tmp_path)),
        rendered("completed.html.erb", site, output_folder="$HOME/atelier-outputs"),
    ):
        text = " ".join(page.split())
        assert " in <strong>atelier-outputs</strong> in your home folder" in text and "$HOME" not in text


class _Links(html.parser.HTMLParser):
    """Each link's text (spaces collapsed) and address."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", ""

    def handle_data(self, data: str) -> None:
        self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links[" ".join(self._text.split())] = self._href
            self._href = None


def _card_links(site: Path, staged_root: Path) -> dict[str, str]:
    page = _Links()
    page.feed(
        rendered("info.html.erb", site, output_folder="$HOME/atelier-outputs", lesson="", staged_root=str(staged_root))
    )
    return page.links


def _download(path: Path) -> str:
    """The dashboard's Files app URL that downloads `path` (ood_appkit's files URL, with ?download)."""
    return f"/pun/sys/dashboard/files/fs{path}?download={int(path.stat().st_mtime)}"


def test_the_card_offers_the_session_s_logs_for_download(site: Path, tmp_path: Path) -> None:
    """Running or completed (OOD shows the info view on both), the card links the job's log and
    any error report atelier saved in the session's folder, as downloads from the Files app."""
    staged = tmp_path / "output" / "5e1f0c2a-8d3b-4c6e-9a7f-0b1c2d3e4f50"
    staged.mkdir(parents=True)
    assert _card_links(site, staged) == {}  # queued: nothing written yet
    (staged / "output.log").write_text("Starting ComfyUI\n")
    assert _card_links(site, staged) == {"download this session's log": _download(staged / "output.log")}
    older, report = (staged / f"atelier-2026-11-05_14-{m}-33-4242.log" for m in ("02", "22"))
    older.write_text("Traceback")
    report.write_text("Traceback")
    links = _card_links(site, staged)
    assert links == {
        "Download the error report": _download(report),  # the newest
        "download this session's log": _download(staged / "output.log"),
    }
    page = rendered("info.html.erb", site, output_folder="$HOME/atelier-outputs", lesson="", staged_root=str(staged))
    assert "Something went wrong inside Atelier." in page and "course's support contact" in page


# `atelier serve` as the job runs it, but failing with a bug where it builds ComfyUI's server.
BROKEN_SERVE = """
from atelier.comfy.server import ComfyServer
def broken(*args, **kwargs):
    raise RuntimeError("the GPU fell off the bus")
ComfyServer.__init__ = broken
from atelier.cli import main
main()
"""


def test_a_bug_in_a_session_s_serve_is_saved_in_the_session_s_folder(site: Path, tmp_path: Path) -> None:
    """The job script points atelier at the session's folder; the card then offers the file."""
    config = yaml.safe_load(site.read_text())
    config["choices"]["local:cpu"]["atelier"] = [sys.executable, "-c", BROKEN_SERVE]
    broken = tmp_path / "atelier.yml"
    broken.write_text(yaml.safe_dump(config))
    values = {"cluster": "local", "gpu": "local:cpu", "hours": "1", "lesson": "", "output_folder": "$HOME/out"}
    session = tmp_path / "session"  # OOD's staged_root: the job runs in it and writes output.log there
    session.mkdir()
    (session / "script.sh").write_text(rendered("template/script.sh.erb", broken, **values), encoding="utf-8")
    checkout = tmp_path / "ComfyUI"
    checkout.mkdir()
    (checkout / "main.py").write_text("")
    env = {  # --export NONE: what the job's own lines and the site's env file give, no more
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "COMFYUI_DIR": str(checkout),
        "COMFYUI_PYTHON": sys.executable,
        "host": "node1",
        "port": "8188",
    }
    done = subprocess.run(["bash", "script.sh"], capture_output=True, text=True, env=env, cwd=session)
    assert done.returncode == 1, done.stderr
    last = done.stderr.rstrip("\n").splitlines()[-1]
    head = "Error: Something went wrong inside atelier (RuntimeError). The details are in "
    tail = "; send that file to your course's support contact."
    assert last.startswith(head) and last.endswith(tail), done.stderr
    assert "Traceback" not in done.stderr
    log = Path(last.removeprefix(head).removesuffix(tail))
    assert log.parent.resolve() == session.resolve() and log.name.startswith("atelier-")
    text = log.read_text()
    assert "command: atelier serve --listen 0.0.0.0 --cpu" in text and "--workdir ." in text
    assert "in broken" in text and text.rstrip().endswith("RuntimeError: the GPU fell off the bus")
    assert not (tmp_path / "state").exists()  # not in the student's home
    assert _card_links(site, session)["Download the error report"] == _download(session / log.name)


PORTAL_OK = {
    "servername": "ondemand.example.edu",
    "node_uri": "/node",
    "rnode_uri": "/rnode",
    "host_regex": r"gpu\d+\.example\.edu",
    "custom_vhost_directives": ["AllowEncodedSlashes NoDecode"],
}


def _portal(tmp_path: Path, **changes: object) -> Path:
    settings = {k: v for k, v in {**PORTAL_OK, **changes}.items() if v is not None}
    path = tmp_path / "ood_portal.yml"
    path.write_text(yaml.safe_dump(settings))
    return path


def _deploy(tmp_path: Path, portal: Path) -> subprocess.CompletedProcess[str]:
    """`atelier ood deploy` of both apps into tmp_path, checked against the portal settings at `portal`."""
    site = ["--site-file", str(tmp_path / "etc" / "comfyui" / "atelier.yml"), "--portal", str(portal)]
    box = ["--box-site-file", str(tmp_path / "etc" / "box" / "atelier.json")]  # never the real /etc/ood
    return subprocess.run(
        [sys.executable, "-m", "atelier", "ood", "deploy", str(tmp_path / "app"), "--cluster", "pegasus", *site, *box],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


def test_a_portal_with_what_sessions_need_passes(tmp_path: Path) -> None:
    assert ood.portal_findings(_portal(tmp_path), PROFILES) == []


def test_a_portal_that_refuses_encoded_slashes_is_named_with_the_line_to_add(tmp_path: Path) -> None:
    path = _portal(tmp_path, custom_vhost_directives=None)
    findings = ood.portal_findings(path, PROFILES)
    assert [f.code for f in findings] == ["ood-portal-encoded-slashes"]
    assert str(findings[0]).startswith(f"{path} lets no encoded slash through: Apache itself answers 404")
    assert ood.portal_lines(findings) == "custom_vhost_directives:\n  - AllowEncodedSlashes NoDecode"


def test_a_portal_whose_proxy_reaches_any_host_is_named(tmp_path: Path) -> None:
    findings = ood.portal_findings(_portal(tmp_path, host_regex=None, rnode_uri=None), PROFILES)
    assert [f.code for f in findings] == ["ood-portal-rnode", "ood-portal-host-regex"]
    assert "host_regex is '[^/]+', so the dashboard's proxy reaches any host at all" in str(findings[1])
    login = ood.portal_findings(_portal(tmp_path, host_regex=r"[a-z0-9.]+"), PROFILES)
    assert "reaches localhost, 127.0.0.1, cerberus.arc.gwu.edu, pegasus.arc.gwu.edu:" in str(login[0])


def test_a_pattern_python_cannot_read_is_left_to_apache(tmp_path: Path) -> None:
    assert ood.portal_findings(_portal(tmp_path, host_regex=r"gpu(?<name>\d+)"), PROFILES) == []


def test_ood_deploy_checks_the_portal_and_prints_the_lines(tmp_path: Path) -> None:
    path = _portal(tmp_path, custom_vhost_directives=["ServerTokens Prod"])
    done = _deploy(tmp_path, path)
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith(f"Deployed the app to {tmp_path / 'app'} with ")
    lines = done.stdout.splitlines()
    assert lines[1:3] == [  # each tool's app beside ComfyUI's, its site file beside ComfyUI's given one
        f"Deployed InvokeAI to {tmp_path / 'invokeai'}; its settings written to "
        f"{tmp_path / 'etc' / 'invokeai' / 'atelier.yml'}.",
        f"Deployed Background remover to {tmp_path / 'rembg'}; its settings written to "
        f"{tmp_path / 'etc' / 'rembg' / 'atelier.yml'}.",
    ]
    assert (tmp_path / "invokeai" / "icon.png").is_file() and (tmp_path / "app" / "icon.png").is_file()
    assert lines[3] == (
        f"Deployed the Box app to {tmp_path / 'box'}; its settings written to "
        f"{tmp_path / 'etc' / 'box' / 'atelier.json'}."
    )
    assert (tmp_path / "box" / "passenger_wsgi.py").is_file()
    assert done.stderr.splitlines()[0] == ("Warning: " + str(ood.portal_findings(path, PROFILES)[0]))
    assert done.stderr.endswith("custom_vhost_directives:\n  - AllowEncodedSlashes NoDecode\n")
    good = _deploy(tmp_path, _portal(tmp_path))
    assert good.returncode == 0 and good.stdout.endswith("the portal settings sessions need are all there.\n")


def test_a_host_regex_that_misses_the_clusters_own_nodes_is_named(tmp_path: Path) -> None:
    """The page's old example 'gpu[0-9]+' against nodes whose hostname carries the domain."""
    text = (ROOT / "scripts" / "atelier" / "clusters" / "pegasus.yaml").read_text()
    profile = tmp_path / "pegasus.yaml"
    profile.write_text(text.replace("compute_nodes: []", "compute_nodes: [gpu001.example.edu, gpu040.example.edu]"))
    nodes = [load_profile(str(profile))]
    path = _portal(tmp_path, host_regex="gpu[0-9]+")
    findings = ood.portal_findings(path, nodes)
    assert [f.code for f in findings] == ["ood-portal-host-regex-nodes"]
    assert str(findings[0]).startswith(
        f"{path}: host_regex 'gpu[0-9]+' does not match gpu001.example.edu, gpu040.example.edu (Pegasus's compute nodes"
    )
    assert ood.portal_findings(_portal(tmp_path), nodes) == []  # gpu\d+\.example\.edu reaches them


def test_ood_deploy_notes_when_no_profile_names_its_nodes(tmp_path: Path) -> None:
    done = _deploy(tmp_path, _portal(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (
        "Note: No cluster profile lists compute_nodes, so the check cannot tell whether host_regex reaches them."
        in done.stderr
    )


def test_the_form_hides_a_share_for_the_lessons_that_do_not_fit_it(site: Path) -> None:
    """OOD's form script hides an option whose data-option-for-lesson-<slug> is false while that lesson is chosen."""
    form = yaml.safe_load(rendered("form.yml.erb", site))
    options = {option[1]: option for option in form["attributes"]["gpu"]["options"]}
    hidden = {key for extra in options["local:quarter"][2:] for key, value in extra.items() if value is False}
    too_big = {m.slug for m in all_modules(ROOT / "workflows") if m.about.gpu_memory_gb > 5}
    assert {key.removeprefix("data-option-for-lesson-") for key in hidden if "-lesson-" in key} == too_big
    assert "sdxl-basics" in too_big and "txt2img-basics" not in too_big
    whole = {key for extra in options["local:card"][2:] for key in extra if "-lesson-" in key}
    assert whole == set()  # a whole card is never hidden by a lesson
    assert form["attributes"]["gpu"]["help"] == ood.GPU_HELP + ood.SHARE_HELP  # says why a share comes and goes


def test_submit_refuses_a_share_too_small_for_the_lesson(site: Path) -> None:
    """A form sent without OOD's script (or with the option forced) is refused in the catalogue's words."""
    result = render("submit.yml.erb", site, cluster="local", gpu="local:quarter", hours="1", lesson="sdxl-basics")
    assert result.returncode != 0
    assert (
        "The lesson 'Bigger pictures with SDXL' needs 10 GB of GPU memory, and A quarter of a stand-in card (5 GB) "
        "gives 5 GB. Choose a GPU that fits it: No GPU (CPU only), A whole stand-in card (20 GB)."
    ) in result.stderr
    fits = yaml.safe_load(
        rendered("submit.yml.erb", site, cluster="local", gpu="local:quarter", hours="1", lesson="txt2img-basics")
    )
    assert fits["script"]["native"] == sbatch_options(load_profile("local"), load_profile("local").gpus["quarter"])


def test_a_tool_s_app_offers_no_share_that_only_comfyui_can_keep_to(site: Path) -> None:
    config = yaml.safe_load(site.read_text())
    tool = load_tool(ROOT / "tools" / "invokeai")
    made = ood.tool_config(config, tool)
    assert "local:quarter" in config["choices"] and "local:quarter" not in made["choices"]
    assert "local:card" in made["choices"]
    assert made["gpu_help"] == ood.GPU_HELP  # no lessons, so nothing about shares that fit them
