"""Where an install comes from, and how it is remembered.

A site names its mirrors once (the cluster profile, or the install's options) and the
prefix records what was used in `.install/settings.json`; a re-run, a resume or a
colleague's run next month installs the same way with no option typed again. The command
line wins, then that record, then the profile, then the public defaults.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from atelier.hpc import packages
from atelier.hpc.profiles import Profile
from atelier.layout import Layout
from atelier.messages import AtelierError

COMFYUI_SOURCE = "https://github.com/Comfy-Org/ComfyUI.git"


@dataclass(frozen=True)
class Sources:
    """Where an install comes from and what it builds: recorded in the prefix, so a re-run
    (or a colleague's, next month) installs the same way without any of it typed again."""

    source: str = COMFYUI_SOURCE  # ComfyUI's git repository: GitHub, a site mirror or a local path
    node_sources: dict[str, str] = field(default_factory=dict)  # custom node folder name: its mirror
    package_index: str | None = None  # None: pip's own settings (pip.conf, PIP_INDEX_URL)
    torch_index: str | None = None  # None: the lock's (PyPI's CUDA build needs none)
    wheelhouse: str | None = None  # a folder of wheels, for hosts that reach no index at all
    cpu: bool = False  # PyTorch's CPU build
    python: str = sys.executable  # the interpreter the prefix's environments are made from
    pin: str | None = None  # the semester pin's file; None: the project's

    @property
    def index(self) -> packages.Index:
        return packages.Index(self.package_index, self.torch_index, Path(self.wheelhouse) if self.wheelhouse else None)


SOURCE_FIELDS = tuple(Sources.__dataclass_fields__)


def recorded_sources(layout: Layout) -> dict[str, object]:
    """What an earlier install of this prefix recorded; empty for a new prefix."""
    if not layout.install_settings.is_file():
        return {}
    try:
        values = json.loads(layout.install_settings.read_text(encoding="utf-8"))
    except ValueError:
        raise AtelierError("install-settings-damaged", file=layout.install_settings) from None
    if "lock" in values:  # recorded before the semester pin's field was called pin
        values.setdefault("pin", values.pop("lock"))
    return {key: value for key, value in values.items() if key in SOURCE_FIELDS}


def choose_sources(layout: Layout, given: dict[str, object], profile: Profile | None) -> tuple[Sources, dict[str, str]]:
    """The command line wins, then the prefix's record, then the cluster profile, then the defaults.

    Returns the sources and, for each, where it came from (shown by the dry run).
    """
    site = (
        {
            "source": profile.comfyui_source,
            "package_index": profile.package_index,
            "torch_index": profile.torch_index,
            "node_sources": profile.custom_node_sources,
        }
        if profile
        else {}
    )
    layers = [("command line", given), ("earlier install", recorded_sources(layout)), ("cluster profile", site)]
    chosen: dict[str, object] = {}
    origin: dict[str, str] = {}
    for name in SOURCE_FIELDS:
        for label, values in layers:
            if values.get(name) not in (None, {}):
                chosen[name], origin[name] = values[name], label
                break
        else:
            origin[name] = "default"
    return Sources(**chosen), origin  # type: ignore[arg-type]


def record_sources(layout: Layout, sources: Sources) -> None:
    layout.install_settings.parent.mkdir(parents=True, exist_ok=True)
    layout.install_settings.write_text(json.dumps(asdict(sources), indent=1, sort_keys=True) + "\n", encoding="utf-8")


def shown_sources(sources: Sources, pin_path: Path) -> dict[str, str]:
    """What the dry run prints about where the install comes from, by field name."""
    shown = {
        "source": sources.source,
        "package_index": sources.package_index or "pip's own settings (pip.conf, PIP_INDEX_URL)",
        "torch_index": sources.torch_index or "the package lock's",
        "cpu": "CPU build of PyTorch" if sources.cpu else "CUDA build of PyTorch",
        "python": sources.python,
        "pin": str(pin_path),
    }
    if sources.wheelhouse:
        shown["wheelhouse"] = sources.wheelhouse
    for name, url in sources.node_sources.items():
        shown[f"node_sources {name}"] = url
    return shown


def check_reachable(what: str, source: str, commit: str) -> None:
    """Before cloning: the source answers and holds the pinned commit, or say which is wrong.

    A mirror made with `git init` and a copy of the files has other commits than upstream;
    finding that here gives one plain line instead of a clone that fails half-way.
    """
    listed = packages.remote_git("ls-remote", "--", source, "HEAD")
    if listed.returncode != 0:
        raise AtelierError(
            "install-source-unreachable", what=what, source=source, reason=packages.last_line(listed.stderr)
        )
    with tempfile.TemporaryDirectory(prefix="atelier-probe-") as probe:
        packages.fetch_commit(what, source, commit, Path(probe) / "repo")
