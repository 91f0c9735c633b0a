"""The project a command works on: one value for the checkout, found once by the command line.

A maintainer runs `atelier` on a login node, the nightly check runs it from a job's
folder: neither need be the checkout. So the command line finds the project once (the
folder ATELIER_PROJECT names, which the semester's atelier.env sets; else the folder it
runs in or one above it that holds workflows/pin.yaml; else the checkout this package
runs from) and passes its paths down; library code never looks for it. Run in the
checkout itself, the paths stay relative, so what the commands print reads as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from atelier.hpc.ood import APP
from atelier.hpc.profiles import Profile, all_profiles, installed_profiles
from atelier.lessons.modules import WORKFLOWS, Module, all_modules
from atelier.lessons.nodes import NODE_LIST_PATH, NodeList, load_node_list
from atelier.lessons.pin import PIN_PATH, Pin, load_pin
from atelier.messages import AtelierError
from atelier.tools.declaration import Tool, load_tools

MARK = PIN_PATH  # a folder holding the semester pin is a project
CHECKOUT = Path(__file__).resolve().parents[2]  # scripts/atelier/ -> the checkout, for an editable install
DOCS = Path("docs")  # the site's pages; below it, what commands publish for the site to show:
STATUS = DOCS / "status"  # lesson checks' reports (the Lesson status page)
RESULTS = DOCS / "benchmarks"  # `atelier bench --json` results and reference.yaml (the Benchmarks page)
SCREENSHOTS = DOCS / "assets" / "screenshots"  # `atelier screenshots` pictures and their alt text
KNOB_PICTURES = DOCS / "assets" / "knobs"  # `atelier strips`: each lesson's knob strips, and what made them


@dataclass(frozen=True)
class Project:
    """The checkout's folders and the facts read from them, each read once."""

    root: Path

    @property
    def workflows(self) -> Path:
        return self.root / WORKFLOWS

    @property
    def pin_path(self) -> Path:
        return self.root / MARK

    @property
    def node_list_path(self) -> Path:
        return self.root / NODE_LIST_PATH

    @property
    def app(self) -> Path:
        """The Open OnDemand app that `atelier ood deploy` installs."""
        return self.root / APP

    @property
    def docs(self) -> Path:
        return self.root / DOCS

    @property
    def status(self) -> Path:
        """Where lesson checks publish the reports the Lesson status page is made from."""
        return self.root / STATUS

    @property
    def results(self) -> Path:
        return self.root / RESULTS

    @property
    def screenshots(self) -> Path:
        return self.root / SCREENSHOTS

    @property
    def knob_pictures(self) -> Path:
        return self.root / KNOB_PICTURES

    @cached_property
    def modules(self) -> list[Module]:
        return all_modules(self.workflows)

    @cached_property
    def nodes(self) -> NodeList:
        return load_node_list(self.node_list_path)

    @cached_property
    def pin(self) -> Pin:
        return load_pin(self.pin_path)

    @cached_property
    def tools(self) -> list[Tool]:
        """Every tool of the semester pin, ComfyUI first, from the declarations in tools/."""
        return load_tools(self.root, self.pin.tool_names)

    @cached_property
    def profiles(self) -> list[Profile]:
        """Every cluster profile (package data beside the code, where a university edits its own)."""
        return all_profiles()

    @property
    def installed_profiles(self) -> list[Profile]:
        return installed_profiles(self.profiles)


def find(here: Path, named: str | None = None) -> Project:
    """The project `named` (ATELIER_PROJECT), or the one `here` is in, or this package's own checkout."""
    if named:
        if not (Path(named) / MARK).is_file():
            raise AtelierError("project-missing", where=named)
        return Project(Path(named))
    here = here.resolve()
    if (here / MARK).is_file():
        return Project(Path("."))  # the checkout itself: paths stay as a person typing them would write them
    for folder in (*here.parents, CHECKOUT):
        if (folder / MARK).is_file():
            return Project(folder)
    raise AtelierError("project-missing", where=here)
