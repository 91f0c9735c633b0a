"""The `ood` tier: the app staged, submitted and proxied by Open OnDemand's own code.

The dashboard's batch_connect classes and ood_core (tests/ood/dashboard.rb) stage and
submit to the local Slurm of the slurm tier; Debian's Apache with the config that
ood-portal-generator writes and mod_ood_proxy's Lua (tests/ood/portal.py) is the proxy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.hpc import ood
from atelier.hpc.profiles import Profile
from atelier.lessons.modules import all_modules
from tests.comfyui.conftest import tiny_store  # noqa: F401  (a fixture: the small random-weight models)
from tests.ood import dashboard
from tests.slurm.conftest import SlurmCluster, _empty_queue, slurm  # noqa: F401  (fixtures)
from tests.tools.conftest import tool_env, tool_store, tools_prefix  # noqa: F401  (fixtures: the tools tier's install)

ROOT = Path(__file__).resolve().parents[2]
PORTS = (20000, 20999)  # the cluster's port range in clusters.d
HAS_COMFYUI = bool(os.environ.get("COMFYUI_DIR")) and (Path(os.environ.get("COMFYUI_DIR", "/")) / "main.py").is_file()
needs_ood = pytest.mark.skipif(not dashboard.HAS_OOD, reason=dashboard.SKIP_REASON or "")
needs_comfyui = pytest.mark.skipif(
    not HAS_COMFYUI, reason="COMFYUI_DIR is not set to a ComfyUI checkout: see tests/README.md"
)


@dataclass
class Site:
    """An OOD site: the deployed app, its site file, clusters.d and the dashboard's data root."""

    app: Path
    site_file: Path
    clusters: Path
    dataroot: Path
    env: dict[str, str]

    def form(self) -> dict:
        return dashboard.form(self.app, self.clusters, env=self.env)

    def submit(self, values: dict[str, str]) -> dict:
        return dashboard.submit(self.app, self.clusters, self.dataroot, values, env=self.env)

    def session(self, session_id: str) -> dict:
        return dashboard.session(self.app, self.clusters, self.dataroot, session_id, env=self.env)


def make_site(
    folder: Path, cluster: SlurmCluster, profiles: list[Profile], comfyui: bool = False, set_host: str | None = None
) -> Site:
    """Deploy the app as `atelier ood deploy` does and give OOD a cluster `local` on the test Slurm."""
    checkout = (Path(os.environ["COMFYUI_DIR"]), Path(os.environ["COMFYUI_PYTHON"])) if comfyui else None
    app, site_file = folder / "apps" / "comfyui", folder / "atelier.yml"
    ood.deploy(
        app, site_file, profiles, all_modules(ROOT / "workflows"), app=ROOT / "ood" / "comfyui", comfyui=checkout
    )
    clusters = dashboard.clusters_d(
        folder / "clusters.d", "local", cluster.conf, *PORTS, set_host=set_host, title="This machine (tests)"
    )
    env = {k: v for k, v in cluster.env.items() if k not in ("COMFYUI_DIR", "COMFYUI_PYTHON")}
    return Site(app, site_file, clusters, folder / "dataroot", {**env, "ATELIER_OOD_SITE": str(site_file)})


def values(folder: Path, lesson: str = "txt2img-basics") -> dict[str, str]:
    """What a student leaves in the launch form: the first lesson, an hour, their own folder."""
    return {"cluster": "local", "gpu": "local:cpu", "hours": "1", "lesson": lesson, "output_folder": str(folder)}
