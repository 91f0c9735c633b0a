"""The Open OnDemand app: its site file, and deploying it.

The app's ERB templates hold no site facts and no logic beyond look-ups. Everything
they need (clusters, GPU choices with their exact sbatch options, limits, install
paths, lessons) is written by `site_config` into one YAML file from the cluster
profiles and `workflows/`. So the form offers exactly what `atelier launch` would ask
Slurm for, and a profile edit plus one `atelier ood deploy` changes both. The Box app
(ood/box, a Passenger app) gets its own site file from the same profiles, in JSON, since
the system Python that Passenger starts it with reads it before atelier is at hand. The
Class wall app (ood/classwall), where instructors build a class's wall, is deployed the same
way (`deploy_passenger`), with the lessons beside it for their titles and knobs.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from atelier import runlog
from atelier.files import read_yaml
from atelier.hpc.profiles import Profile, atelier_command, installed_profiles, sbatch_options, serve_args, too_small
from atelier.layout import KEY_FILE, OUTPUTS, Layout
from atelier.lessons.modules import Module, ordered
from atelier.messages import AtelierError, Finding
from atelier.tools.declaration import Tool

APP = Path("ood/comfyui")
OOD_APPS = Path("/etc/ood/config/apps")  # OOD's place for apps' site settings, one folder per app
# The ComfyUI app's: its ERB templates, which cannot import this, hold copies (tests/unit/test_copies.py).
SITE_FILE = OOD_APPS / APP.name / "atelier.yml"
# The path the dashboard's proxy serves a session under (mod_ood_proxy's /rnode/, which hands the node the
# rest of the path): the card's button posts the key there, and a tool that must know it is told it.
PROXY_PATH = "/rnode/%{host}/%{port}/"
BOX_APP = Path("ood/box")  # the Passenger app that connects Box; its site file is JSON for the system Python
CLASSWALL_APP = Path("ood/classwall")  # the Passenger app where instructors build a class wall
COURSE_ROOTS = ("$HOME",)  # where the Class wall app opens course folders unless deploy names group folders' places
WALLS = "$HOME/atelier-class-walls"  # where the Class wall app writes walls, in the instructor's own home


# The form's help under GPU: whole cards, and shares where a cluster offers them (a tool's form has no lessons).
GPU_HELP = "Any GPU runs every first-year lesson. Bigger GPUs are for SDXL, video and 3D."
SHARE_HELP = (
    " A share of a GPU sits beside other students' sessions on one card; it is listed only for the lessons that fit."
)
PASSENGER_START = "passenger_wsgi.py"  # beside the apps' folders in ood/: one start file, copied into each


def box_site_file(app_name: str) -> Path:
    """Where ood/passenger_wsgi.py looks for an app's settings, by the name the app is deployed under (it holds a
    copy, since the system Python runs it without atelier)."""
    return OOD_APPS / app_name / "atelier.json"


def site_config(
    profiles: list[Profile], modules: list[Module], comfyui: tuple[Path, Path] | None = None
) -> dict[str, Any]:
    """What the form and job templates look up, keyed by the form's values.

    Each choice carries the whole `atelier serve` command but the per-session parts
    (port, folder, lesson, outputs), worked out by the same code as `atelier launch`.
    """
    clusters, choices = {}, {}
    ordered_modules = ordered(modules)
    for profile in profiles:
        clusters[profile.ood_cluster] = {"title": profile.title, "max_hours": profile.max_hours}
        for gpu in profile.gpus.values():
            choices[f"{profile.ood_cluster}:{gpu.name}"] = {
                "cluster": profile.ood_cluster,
                "title": gpu.title,
                "sbatch": sbatch_options(profile, gpu),
                "max_hours": profile.max_hours,
                # An absolute command: OOD's jobs start with `--export NONE`, so PATH is the login one.
                "atelier": atelier_command(profile),
                "serve": serve_args(profile, gpu, comfyui, listen="0.0.0.0"),  # the dashboard's proxy connects
                "env_file": str(Layout.of(profile.prefix).env_file) if profile.prefix else None,
                "modules": list(profile.modules),  # a copy: YAML aliases would trip Ruby's safe_load
                "backup_title": profile.backup.title,
                "memory_gb": gpu.memory_gb,
                "share": gpu.share,
                # The form hides a share for these lessons, and the job refuses it: they need more memory.
                "too_small_for": [m.slug for m in ordered_modules if too_small(gpu, m.about.gpu_memory_gb)],
            }
    lessons = [{"slug": m.slug, "title": m.title, "gpu_memory_gb": _gb(m.about.gpu_memory_gb)} for m in ordered_modules]
    # The job's refusal of a share too small for the lesson, in the catalogue's words; Ruby's format() fills it in.
    too_small_text = AtelierError(
        "share-too-small", lesson="%{lesson}", need="%{need}", choice="%{choice}", has="%{has}", fits="%{fits}"
    )
    outputs = profiles[0].outputs if profiles else OUTPUTS
    default_hours = min((p.default_hours for p in profiles), default=1)  # one value: the form has one field
    return {
        "clusters": clusters,
        "choices": choices,
        "lessons": lessons,
        "outputs": outputs,
        "default_hours": default_hours,
        "key_file": KEY_FILE.as_posix(),
        "proxy_path": PROXY_PATH,  # Ruby's format() fills it in
        "tool": {"name": "comfyui", "title": "ComfyUI"},
        "share_too_small": str(too_small_text),
        "gpu_help": GPU_HELP + (SHARE_HELP if any(c["share"] for c in choices.values()) else ""),
        "error_logs": runlog.PATTERN,  # a bug's traceback: the job script points atelier at the session's folder
    }  # in the session's folder


def _gb(value: float) -> float | int:
    """4.0 reads 4 on the form and in its messages; 2.5 stays 2.5."""
    return int(value) if float(value).is_integer() else value


def write_site_file(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `atelier ood deploy` from the cluster profiles; edit those, not this.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def deploy(
    dest: Path,
    site_file: Path,
    profiles: list[Profile],
    modules: list[Module],
    app: Path = APP,
    comfyui: tuple[Path, Path] | None = None,
) -> list[Path]:
    """Copy the app to `dest` with the lessons in its template/, and write the site file.

    The lessons travel in `template/workflows/` because OOD copies template/ into every
    session's folder on the cluster's shared file system, where the job can read them.
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(app, dest)
    lessons = dest / "template" / "workflows"
    for module in modules:
        shutil.copytree(module.folder, lessons / module.slug, ignore=shutil.ignore_patterns("__pycache__"))
    return [dest, write_site_file(site_config(profiles, modules, comfyui), site_file)]


def tool_site_file(name: str) -> Path:
    """Where a tool's app reads its settings: as the ComfyUI app's, in a folder named after it."""
    return OOD_APPS / name / SITE_FILE.name


def tool_config(config: dict[str, Any], tool: Tool) -> dict[str, Any]:
    """The ComfyUI app's settings, made a tool's: each choice's serve command starts that tool, there are
    no lessons (a lesson is a ComfyUI workflow), and no shard share (only ComfyUI keeps within one)."""
    choices = {
        value: {**choice, "serve": [*choice["serve"], "--tool", tool.name], "too_small_for": []}
        for value, choice in config["choices"].items()
        if choice.get("share") != "shard"  # only ComfyUI keeps within a shard's memory (extension atelier_share)
    }
    tool_facts = {"name": tool.name, "title": tool.title}
    return {**config, "choices": choices, "lessons": [], "tool": tool_facts, "gpu_help": GPU_HELP}


def tool_manifest(tool: Tool, template: Path) -> str:
    """The tool app's manifest: the ComfyUI app's, with the tool's name and one line."""
    manifest = yaml.safe_load(template.read_text(encoding="utf-8"))
    manifest.update(name=tool.title, description=f"{tool.summary}\nYour session is private: only you can open it.\n")
    return yaml.safe_dump(manifest, sort_keys=False)


def deploy_tool(
    dest: Path,
    site_file: Path,
    tool: Tool,
    profiles: list[Profile],
    app: Path = APP,
    comfyui: tuple[Path, Path] | None = None,
) -> list[Path]:
    """A tool's own app in `dest`, made from the ComfyUI app (one source for both): the templates read the
    tool's site file, the manifest and icon are the tool's, and the form asks only what the tool needs."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(app, dest)
    for template in dest.rglob("*.erb"):
        text = template.read_text(encoding="utf-8")
        template.write_text(text.replace(SITE_FILE.as_posix(), site_file.as_posix()), encoding="utf-8")
    (dest / "manifest.yml").write_text(tool_manifest(tool, app / "manifest.yml"), encoding="utf-8")
    shutil.copyfile(tool.picture, dest / "icon.png")  # the dashboard shows an app's icon.png
    return [dest, write_site_file(tool_config(site_config(profiles, [], comfyui), tool), site_file)]


def box_config(profiles: list[Profile], app_name: str) -> dict[str, Any]:
    """The Box app's settings: one remote for every cluster, since a student signs in once.

    The redirect URI is the app's fixed address on the dashboard, the one registered in
    the university's Box app; the Python is the install's, which has atelier.
    """
    chosen = installed_profiles(profiles) or profiles
    first = chosen[0]

    def where(profile: Profile) -> dict[str, Any]:
        return {k: v for k, v in asdict(profile.backup).items() if k not in ("title", "every_minutes")}

    differ = [p for p in chosen if where(p) != where(first)]
    if differ:
        fields = sorted(k for p in differ for k, v in where(p).items() if v != where(first)[k])
        raise AtelierError(
            "box-profiles-disagree",
            clusters=", ".join(p.name for p in [first, *differ]),
            detail="backup " + ", ".join(dict.fromkeys(fields)),
        )
    url = next((p.ondemand_url for p in chosen if p.ondemand_url), None)
    return {
        "written_by": "atelier ood deploy, from the cluster profiles: edit those, not this",
        "profile": first.name,
        "backup": asdict(first.backup),
        "user_folder": first.user_folder,
        "redirect_uri": f"{url.rstrip('/')}/pun/sys/{app_name}/callback" if url else None,
        "python": str(app_python(profiles)),
    }


def app_python(profiles: list[Profile]) -> Path:
    """The Python a Passenger app hands over to: the install's (it has atelier); without an install, this one."""
    first = (installed_profiles(profiles) or profiles)[0]
    return Layout.python(Layout.of(first.prefix).atelier_venv) if first.prefix else Path(sys.executable)


def classwall_config(
    profiles: list[Profile],
    app_name: str,
    roots: tuple[str, ...] = COURSE_ROOTS,
    workflows: Path | None = None,
    walls: str = WALLS,
) -> dict[str, Any]:
    """The Class wall app's settings: its path on the dashboard, the dashboard's origin (the one whose pages may
    press its button), where course folders may be opened and walls written, and the lessons' folder."""
    url = next((p.ondemand_url for p in installed_profiles(profiles) or profiles if p.ondemand_url), None)
    parts = urlsplit(url) if url else None
    return {
        "written_by": "atelier ood deploy, from the cluster profiles: edit those, not this",
        "base": f"/pun/sys/{app_name}",
        "origin": f"{parts.scheme}://{parts.netloc}" if parts else None,
        "course_roots": list(roots),
        "walls": walls,
        "workflows": str(workflows) if workflows else None,
        "python": str(app_python(profiles)),
    }


def box_findings(config: dict[str, Any]) -> list[Finding]:
    """What the profile lacks for the Box app's Connect button to work."""
    missing = [
        name
        for name, there in (
            ("backup.client_id", config["backup"].get("client_id")),
            ("ondemand_url", config["redirect_uri"]),
        )
        if not there
    ]
    return (
        [Finding("ood-box-unset", {"profile": config["profile"], "missing": " or ".join(missing)})] if missing else []
    )


def deploy_passenger(
    app: Path, dest: Path, site_file: Path, config: dict[str, Any], serves: str, modules: list[Module] | None = None
) -> list[Path]:
    """Copy a Passenger app to `dest` with the shared start file (with `modules` in its workflows/), and write
    its JSON site file, which names the module (`serves`) the start file hands the requests to."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(app, dest, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(app.parent / PASSENGER_START, dest / PASSENGER_START)
    config = {**config, "serves": serves}
    for module in modules or []:
        shutil.copytree(module.folder, dest / "workflows" / module.slug, ignore=shutil.ignore_patterns("__pycache__"))
    site_file.parent.mkdir(parents=True, exist_ok=True)
    # Every user's own nginx reads it, so it is world-readable, Box's client secret and all (Runbook: Backups).
    site_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    site_file.chmod(0o644)
    return [dest, site_file]


def deploy_box(dest: Path, site_file: Path, profiles: list[Profile], app: Path = BOX_APP) -> list[Path]:
    """Copy the Box app to `dest` and write its site file; the app's folder name is part of its address."""
    return deploy_passenger(app, dest, site_file, box_config(profiles, dest.name), "atelier.web.box")


def deploy_classwall(
    dest: Path,
    site_file: Path,
    profiles: list[Profile],
    modules: list[Module],
    roots: tuple[str, ...] = COURSE_ROOTS,
    app: Path = CLASSWALL_APP,
    walls: str = WALLS,
) -> list[Path]:
    """Copy the Class wall app to `dest` with the lessons, and write its site file."""
    config = classwall_config(profiles, dest.name, roots, dest.resolve() / "workflows", walls)
    return deploy_passenger(app, dest, site_file, config, "atelier.web.classwall", modules)


ENCODED_SLASHES = "AllowEncodedSlashes NoDecode"
_ANY_HOST = "[^/]+"  # ood-portal-generator's default host_regex


def portal_findings(path: Path, profiles: list[Profile]) -> list[Finding]:
    """What the site's ood_portal.yml must change for students' sessions to work and stay apart.

    Read from the file ood-portal-generator makes Apache's config from, not from Apache:
    that is the file a maintainer edits, and `update_ood_portal` keeps the two the same.
    """
    if not path.is_file():
        raise AtelierError("ood-portal-missing", file=path)
    portal = read_yaml(path)
    portal = portal if isinstance(portal, dict) else {}  # an empty file: every setting is missing
    found = []
    directives = [str(d).split() for d in portal.get("custom_vhost_directives") or []]
    if not any([w.lower() for w in d] == [w.lower() for w in ENCODED_SLASHES.split()] for d in directives):
        found.append(Finding("ood-portal-encoded-slashes", {"file": path}))
    if not portal.get("rnode_uri"):
        found.append(Finding("ood-portal-rnode", {"file": path}))
    pattern = str(portal.get("host_regex") or _ANY_HOST)
    hosts = dict.fromkeys(["localhost", "127.0.0.1", *(p.login_host for p in profiles if p.login_host)])
    try:
        reach = [name for name in hosts if re.fullmatch(pattern, name)]
    except re.error:  # Apache's PCRE reads more than Python's re does: leave such a pattern to Apache
        reach = []
    if pattern == _ANY_HOST or reach:
        where = "any host at all" if pattern == _ANY_HOST else ", ".join(reach)
        found.append(Finding("ood-portal-host-regex", {"file": path, "value": f"'{pattern}'", "reach": where}))
    nodes = {name: p.title for p in profiles for name in p.compute_nodes}
    try:
        unreached = [name for name in nodes if not re.fullmatch(pattern, name)]
    except re.error:
        unreached = []
    if unreached:
        clusters = ", ".join(dict.fromkeys(nodes[name] for name in unreached))
        found.append(
            Finding(
                "ood-portal-host-regex-nodes",
                {"file": path, "value": f"'{pattern}'", "nodes": ", ".join(unreached), "clusters": clusters},
            )
        )
    return found


def portal_lines(findings: list[Finding]) -> str:
    """The ood_portal.yml lines that mend `findings`, ready to paste."""
    codes = {f.code for f in findings}
    lines = []
    if "ood-portal-encoded-slashes" in codes:
        lines += ["custom_vhost_directives:", f"  - {ENCODED_SLASHES}"]
    if "ood-portal-rnode" in codes:
        lines += ["node_uri: '/node'", "rnode_uri: '/rnode'"]
    if "ood-portal-host-regex" in codes:
        lines += ["host_regex: 'gpu[0-9]+\\.cluster\\.example\\.edu'  # your compute nodes' names, and nothing else"]
    return "\n".join(lines)


@dataclass(frozen=True)
class FormField:
    """One field of the launch form, as a student sees it."""

    name: str
    label: str
    help: str
    choices: list[str]
    default: str


_ERB_LINE = re.compile(r"^[ \t]*<%-?(?!=).*?-?%>[ \t]*\n", re.S | re.M)  # a line of control code only
_ERB_CODE = re.compile(r"<%-?(?!=).*?-?%>", re.S)
_EACH = "\u27e8each\u27e9"  # stands for a loop's item until the config's own list replaces it
_ERB_VALUE = re.compile(r"<%=\s*(.*?)\s*-?%>", re.S)


def form_fields(config: dict[str, Any], template: Path = APP / "form.yml.erb") -> list[FormField]:
    """The form's fields, read from the template itself so the Start here table follows it.

    The template only looks values up in the site file, so the few look-ups it holds are
    answered here from the same config; a test renders it with Ruby's ERB and compares.
    """
    clusters, choices = config["clusters"], config["choices"]
    if not clusters:
        return []  # no cluster installed: the form has nothing to offer
    titles = [c["backup_title"] for c in choices.values() if c.get("backup_title")]
    known = {
        "backup_title": titles[0] if titles else "Box",
        'site.fetch("default_hours")': config["default_hours"],
        'clusters.values.map { |c| c.fetch("max_hours") }.max': max(c["max_hours"] for c in clusters.values()),
        'site.fetch("outputs")': config["outputs"],
        'site.fetch("gpu_help")': config["gpu_help"],
    }

    def value(match: re.Match[str]) -> str:
        if match.group(1) in known:
            return str(known[match.group(1)])
        return _EACH

    form = yaml.safe_load(
        _ERB_VALUE.sub(value, _ERB_CODE.sub("", _ERB_LINE.sub("", template.read_text(encoding="utf-8"))))
    )
    looped = {
        "cluster": [c["title"] for c in clusters.values()],
        "gpu": [f"{clusters[c['cluster']]['title']}: {c['title']}" for c in choices.values()],
        "lesson": [lesson["title"] for lesson in config["lessons"]],
    }
    fields = []
    for name in form["form"]:
        spec = form["attributes"].get(name, {})
        options = [str(o[0]) for o in spec.get("options", []) if _EACH not in str(o[0])]
        if any(_EACH in str(o[0]) for o in spec.get("options", [])) or (name == "cluster" and "options" not in spec):
            options += looped[name]  # the cluster field: OOD makes its choices from the form's cluster list
        default = str(spec.get("value", options[0] if options else ""))  # a list starts on its first choice
        if "min" in spec and "max" in spec:
            options = [f"a whole number from {spec['min']} to {spec['max']}"]
        fields.append(FormField(name, str(spec.get("label", name)), str(spec.get("help", "")), options, default))
    return fields
