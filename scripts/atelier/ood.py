"""The Open OnDemand app: its site file, and deploying it.

The app's ERB templates hold no site facts and no logic beyond look-ups. Everything
they need (clusters, GPU choices with their exact sbatch options, limits, install
paths, lessons) is written by `site_config` into one YAML file from the cluster
profiles and `workflows/`. So the form offers exactly what `atelier launch` would ask
Slurm for, and a profile edit plus one `atelier ood deploy` changes both.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from atelier import hpc
from atelier.modules import LEVELS, Module

APP = Path("ood/comfyui")
SITE_FILE = Path("/etc/ood/config/apps/comfyui/atelier.yml")  # OOD's place for an app's site settings


def site_config(profiles: list[hpc.Profile], modules: list[Module]) -> dict[str, Any]:
    """What the form and job templates look up, keyed by the form's values."""
    clusters, choices = {}, {}
    for profile in profiles:
        clusters[profile.ood_cluster] = {"title": profile.title, "max_hours": profile.max_hours,
                                         "default_hours": profile.default_hours}
        for gpu in profile.gpus.values():
            choices[f"{profile.ood_cluster}:{gpu.name}"] = {
                "cluster": profile.ood_cluster,
                "title": gpu.title,
                "sbatch": hpc.sbatch_options(profile, gpu),
                "cpu": gpu.gres is None,
                "max_hours": profile.max_hours,
                "prefix": str(profile.prefix) if profile.prefix else None,
                "models": str(profile.models) if profile.models else None,
                "modules": list(profile.modules),  # a copy: YAML aliases would trip Ruby's safe_load
                "backup_to": str(profile.backup.target),
                "backup_every": profile.backup.every_minutes,
                "backup_title": profile.backup.title,
            }
    ordered = sorted(modules, key=lambda m: (LEVELS.index(m.meta.get("level", LEVELS[0])), m.meta.get("title", "")))
    lessons = [{"slug": m.slug, "title": str(m.meta.get("title") or m.slug)} for m in ordered]
    outputs = profiles[0].outputs if profiles else "$HOME/atelier-outputs"
    return {"clusters": clusters, "choices": choices, "lessons": lessons, "outputs": outputs}


def write_site_file(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `atelier ood deploy` from the cluster profiles; edit those, not this.\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def deploy(dest: Path, site_file: Path, profiles: list[hpc.Profile], modules: list[Module],
           app: Path = APP) -> list[Path]:
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
    return [dest, write_site_file(site_config(profiles, modules), site_file)]
