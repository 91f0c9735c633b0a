"""Open OnDemand's own dashboard code, driven from the tests: a wrapper of `dashboard.rb`.

`dashboard.rb` loads the dashboard's batch_connect models from a checkout of OSC/ondemand
(`OOD_DIR`) and ood_core from a checkout of OSC/ood_core (`OOD_CORE_DIR`), and does what
the dashboard's controllers do: show an app's form, launch a session (stage the
templates, submit with ood_core's Slurm adapter) and show a session's card. Each function
here runs it once and returns the JSON it printed.

The app folder is served as a sandbox app: its token is ``dev/<folder name>``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

DRIVER = Path(__file__).resolve().with_name("dashboard.rb")
RUBY = shutil.which("ruby")
# Debian's ruby-* packages the driver loads (ood_appkit and ood_support are stubbed in it).
RUBY_LIBRARIES = ("active_support", "active_model", "action_view", "climate_control", "redcarpet", "dotenv", "zeitwerk")
RUBY_PACKAGES = (
    "ruby-activesupport",
    "ruby-activemodel",
    "ruby-actionview",
    "ruby-climate-control",
    "ruby-redcarpet",
    "ruby-dotenv",
    "ruby-zeitwerk",
)
SBATCH_LOG_SUFFIX = ".sbatch.jsonl"


class DashboardError(RuntimeError):
    """OOD refused: the plain message the dashboard would show (the driver's `error`)."""

    def __init__(self, message: str, result: dict) -> None:
        super().__init__(message)
        self.result = result


def _checkout(name: str, marker: str) -> Path | None:
    """The checkout an environment variable names, if it holds `marker`."""
    value = os.environ.get(name)
    return Path(value) if value and (Path(value) / marker).is_file() else None


def skip_reason() -> str | None:
    """Why the OOD tier cannot run here, or None when it can."""
    if not (
        _checkout("OOD_DIR", "apps/dashboard/app/models/batch_connect/session.rb")
        and _checkout("OOD_CORE_DIR", "lib/ood_core.rb")
    ):
        return "OOD_DIR and OOD_CORE_DIR are not set to checkouts of OSC/ondemand and OSC/ood_core: see tests/README.md"
    if not RUBY:
        return "Ruby not found: run ./dev test as root, or apt-get install ruby"
    if not shutil.which("rsync"):
        return "rsync not found (OOD stages each session's template with it): apt-get install rsync"
    probe = "; ".join(f"require {name!r}" for name in RUBY_LIBRARIES)
    if subprocess.run([RUBY, "-e", probe], capture_output=True, timeout=60, check=False).returncode != 0:
        return f"Ruby libraries missing: run ./dev test as root, or apt-get install {' '.join(RUBY_PACKAGES)}"
    return None


SKIP_REASON = skip_reason()
HAS_OOD = SKIP_REASON is None


def run(
    command: str,
    payload: Mapping[str, object],
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 120,
) -> dict:
    """Run `dashboard.rb COMMAND` with `payload` as its JSON and return what it printed.

    `env` replaces the environment (default: this process's), with OOD_DIR and
    OOD_CORE_DIR added. With `check`, a refusal raises DashboardError with OOD's message.
    """
    assert HAS_OOD, SKIP_REASON
    full_env = {**(os.environ if env is None else env)}
    full_env.setdefault("OOD_DIR", os.environ["OOD_DIR"])
    full_env.setdefault("OOD_CORE_DIR", os.environ["OOD_CORE_DIR"])
    done = subprocess.run(
        [RUBY, str(DRIVER), command],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"dashboard.rb {command} printed no JSON (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        ) from None
    if check and done.returncode != 0:
        raise DashboardError(result.get("error") or f"dashboard.rb {command} failed", result)
    return result


def _env(clusters_d: Path, dataroot: Path | None, env: Mapping[str, str] | None) -> dict[str, str]:
    full = {**(os.environ if env is None else env), "OOD_CLUSTERS": str(clusters_d)}
    if dataroot is not None:
        full["OOD_DATAROOT"] = str(dataroot)
    else:
        full.pop("OOD_DATAROOT", None)
    return full


def form(
    app_dir: Path,
    clusters_d: Path,
    dataroot: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> dict:
    """The launch form as the dashboard builds it.

    ``ok`` is whether the dashboard shows a form: an invalid app (no usable cluster, a
    form.yml.erb that raises) gets ``error`` instead, and with `check` raises
    DashboardError. Returns ``valid``, ``validation_reason``, ``configured_clusters`` (form.yml's),
    ``clusters`` (those the app can use: ``id``, ``title``, ``adapter``, ``batch_connect``),
    ``missing_clusters`` (named in form.yml, not in clusters.d), ``all_clusters``,
    ``form_layout``, and ``attributes``: one per field in form order, each with ``id``,
    ``widget``, ``label``, ``help``, ``help_html``, ``value``, ``fixed``, ``hidden``,
    ``min``/``max``/``step``, ``field_options`` (the input's attributes, data-* included),
    ``html_options``, and for selects ``options`` (``label``, ``value``, ``attributes``:
    the option's data-*) and ``options_html``. With a `dataroot`, the values are those
    of the last launch, as the dashboard fills them in.
    """
    return run("form", {"app": str(app_dir)}, _env(clusters_d, dataroot, env), check=check)


def _sbatch_logs(clusters_d: Path) -> dict[Path, int]:
    return {log: len(log.read_text().splitlines()) for log in sorted(clusters_d.glob(f"*{SBATCH_LOG_SUFFIX}"))}


def submit(
    app_dir: Path,
    clusters_d: Path,
    dataroot: Path,
    values: Mapping[str, object],
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> dict:
    """Launch a session as the dashboard's Launch button does.

    Returns ``ok``, ``session_id``, ``job_id``, ``cluster_id``, ``staged_root``,
    ``db_file``, ``script_type``, ``context`` (the values OOD kept), ``ignored_values``
    (not form fields), ``errors`` (``attribute``: save, stage or submit; ``heading`` and
    ``message`` as the form page shows them), ``error`` (all in one plain message, when
    not ``ok``), ``log`` (what OOD logged), and ``sbatch_argv``: each command line the
    clusters.d wrapper logged during this launch.
    """
    before = _sbatch_logs(clusters_d)
    payload = {"app": str(app_dir), "values": dict(values)}
    result = run("submit", payload, _env(clusters_d, dataroot, env), check=False)
    calls = []
    for log in _sbatch_logs(clusters_d):
        calls += [json.loads(line) for line in log.read_text().splitlines()[before.get(log, 0) :]]
    result["sbatch_argv"] = [call["argv"] for call in calls]
    result["sbatch_calls"] = calls
    if check and not result.get("ok"):
        raise DashboardError(result.get("error") or "the session was not saved", result)
    return result


def session(
    app_dir: Path,
    clusters_d: Path,
    dataroot: Path,
    session_id: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> dict:
    """A session's card, as the dashboard's My Interactive Sessions page shows it.

    Returns ``status`` (ood_core's: queued, running, completed...), ``card_status`` (the
    card's word), ``starting``/``running``/``completed``, ``connect`` (connection.yml:
    host, port, password; None until written), ``user_context``, ``info_view`` and
    ``info_view_error``, ``completed_view`` and ``completed_view_error``, ``info_html``
    and ``completed_html`` (the card's partials), ``connection_html`` (what the card
    shows under its header) and ``view_html`` (view.html.erb through
    connections/_custom.html.erb, whenever connection.yml exists).
    """
    payload = {"app": str(app_dir), "session_id": session_id}
    return run("session", payload, _env(clusters_d, dataroot, env), check=check)


def clusters_d(
    folder: Path,
    cluster_id: str,
    slurm_conf: Path,
    min_port: int,
    max_port: int,
    set_host: str | None = None,
    title: str | None = None,
) -> Path:
    """Write ``<folder>/<cluster_id>.yml``, a Slurm cluster for OOD, and return `folder`.

    The cluster's sbatch is a wrapper (``<cluster_id>.sbatch``, through ood_core's
    ``bin_overrides``) that appends its argv, working folder and SLURM_CONF as one JSON
    line to ``<cluster_id>.sbatch.jsonl`` and then runs the real sbatch; `submit` reads
    them back. `set_host` is the basic template's bash that sets ``host`` (OOD's default
    is ``host=$(hostname)``).
    """
    real_sbatch = shutil.which("sbatch")
    assert real_sbatch, "sbatch not found: install Debian's slurm-client"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{cluster_id}{SBATCH_LOG_SUFFIX}"
    wrapper = folder / f"{cluster_id}.sbatch"
    wrapper.write_text(
        f"#!{sys.executable} -I\n"
        "# Written by tests/ood/dashboard.py: log how OOD called sbatch, then run the real one.\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as out:\n"
        "    out.write(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        " 'SLURM_CONF': os.environ.get('SLURM_CONF')}) + '\\n')\n"
        f"os.execv({real_sbatch!r}, [{real_sbatch!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    basic: dict[str, object] = {"min_port": min_port, "max_port": max_port}
    if set_host is not None:
        basic["set_host"] = set_host
    config = {
        "v2": {
            "metadata": {"title": title or cluster_id},
            "job": {"adapter": "slurm", "conf": str(slurm_conf), "bin_overrides": {"sbatch": str(wrapper)}},
            "batch_connect": {"basic": basic},
        }
    }
    (folder / f"{cluster_id}.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder
