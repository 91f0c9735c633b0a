"""The copies that cannot import their fact, each held to its one source.

Some files cannot use atelier's Python: Open OnDemand's ERB templates and the Passenger start
file (Ruby, or a Python without atelier), and the ComfyUI extensions (ComfyUI's own Python
loads them) with their browser scripts. Where such a file needs a fact of atelier's, it types
a copy. Each copy is read here as it really is, from the file's text or by importing the
extension (they import without ComfyUI), and compared with the Python it copies, one test per
copy: changing either side alone fails the test that names the file and the fact.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

import pytest

from atelier import files, layout
from atelier.check import bench
from atelier.comfy import headless, server
from atelier.hpc import ood, slurm
from atelier.keep import compare, ledger, outputs
from atelier.lessons.pin import PIN_PATH, load_pin
from atelier.messages import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = "scripts/atelier/comfy/extensions"
# Every template of the OOD app that reads the site file (or names where it is), found afresh: a new one is held too.
OOD_TEMPLATES = sorted(
    str(path.relative_to(ROOT))
    for path in (ROOT / "ood").rglob("*.erb")
    if "ATELIER_OOD_SITE" in (body := path.read_text(encoding="utf-8")) or "/etc/ood/" in body
)
WHEN = time.mktime((2026, 11, 20, 14, 30, 5, 0, 0, -1))  # a moment to date folders with


def text(file: str) -> str:
    return (ROOT / file).read_text(encoding="utf-8")


def only(pattern: str, file: str) -> str:
    """The one place `pattern` finds in `file` (its first group): the copy, as the file holds it."""
    found = re.findall(pattern, text(file))
    assert len(found) == 1, f"{file}: expected the copy once ({pattern}), found {len(found)}: update this test"
    return found[0]


def extension(name: str) -> ModuleType:
    """An extension (or one of its modules) as ComfyUI would load it; outside ComfyUI it installs nothing."""
    return importlib.import_module(f"atelier.comfy.extensions.{name}")


@dataclass(frozen=True)
class Copy:
    """One copy of a fact: `copy()` reads it from `file`, `source()` is the Python it copies."""

    fact: str
    file: str
    copy: Callable[[], object]
    source: Callable[[], object]

    @property
    def name(self) -> str:
        return f"{self.fact} in {self.file}"


def _erb_site_file(file: str) -> Copy:
    return Copy(
        "the OOD site file",
        file,
        lambda: only(r'ENV\.fetch\("ATELIER_OOD_SITE",\s*"([^"]*)"\)', file),
        lambda: ood.SITE_FILE.as_posix(),
    )


def _passenger_site_file() -> str:
    """passenger_wsgi.py's site file for an app deployed as `box`, by its own f-string."""
    pattern = only(r'f"(/[^"]*\{HERE\.name\}[^"]*)"', "ood/passenger_wsgi.py")
    return pattern.replace("{HERE.name}", "box")


def _key_hint(what: str) -> int:
    """A number the gate-key-short hint names: the least key length, or the one OOD's before.sh makes."""
    found = re.search(rf"{what} (\d+)", MESSAGES["gate-key-short"].hint)
    return int(found.group(1)) if found else -1


def _ood_key_length() -> int:
    return int(only(r"create_passwd (\d+)", "ood/comfyui/template/before.sh.erb"))


def _image_suffixes() -> set[str]:
    return {suffix for suffix, kind in outputs.KINDS.items() if kind == "image"}


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", template))


COMPARE = f"{EXTENSIONS}/atelier_compare"
SPACE = f"{EXTENSIONS}/atelier_space"
FOLDER = f"{COMPARE}/folder.py"

COPIES = [
    # 1. Where `atelier ood deploy` writes the ComfyUI app's site file, and the Passenger apps' own.
    *(_erb_site_file(template) for template in OOD_TEMPLATES),
    Copy(
        "a Passenger app's site file",
        "ood/passenger_wsgi.py",
        _passenger_site_file,
        lambda: ood.box_site_file("box").as_posix(),
    ),
    # 2. The names the Compare page shares with keep/: the ledger, the documents, the media.
    Copy("the ledger's file name", FOLDER, lambda: extension("atelier_compare.folder").LEDGER, lambda: ledger.LEDGER),
    Copy(
        "the comparisons folder",
        FOLDER,
        lambda: extension("atelier_compare.folder").COMPARISONS,
        lambda: ledger.COMPARISONS,
    ),
    Copy("the contact sheet's name", FOLDER, lambda: extension("atelier_compare.folder").SHEET, lambda: compare.SHEET),
    Copy("the workbook's name", FOLDER, lambda: extension("atelier_compare.folder").WORKBOOK, lambda: compare.WORKBOOK),
    Copy("the CSV file's name", FOLDER, lambda: extension("atelier_compare.folder").CSV_FILE, lambda: compare.CSV_FILE),
    Copy(
        "the outputs' suffixes",
        FOLDER,
        lambda: sorted(extension("atelier_compare.folder").MEDIA),
        lambda: sorted(outputs.KINDS),
    ),
    Copy(
        "the pictures' suffixes",
        FOLDER,
        lambda: sorted(extension("atelier_compare.folder").PICTURES),
        lambda: sorted(_image_suffixes()),
    ),
    Copy(
        "the documents' suffixes",
        FOLDER,
        lambda: sorted(extension("atelier_compare.folder").MADE),
        lambda: sorted(PurePosixPath(name).suffix for name in (compare.SHEET, compare.WORKBOOK, compare.CSV_FILE)),
    ),
    # 3. The gate's shortest key and the drain's wait; the key OOD's before.sh makes, and the hint that names both.
    Copy(
        "the shortest session key",
        f"{EXTENSIONS}/atelier_gate/__init__.py",
        lambda: extension("atelier_gate").KEY_LEAST,
        lambda: server.KEY_LEAST,
    ),
    Copy(
        "the shortest session key (gate-key-short's hint)",
        "scripts/atelier/messages.py",
        lambda: _key_hint("at least"),
        lambda: server.KEY_LEAST,
    ),
    Copy(
        "a session key no shorter than the gate's least",
        "ood/comfyui/template/before.sh.erb",
        lambda: max(_ood_key_length(), server.KEY_LEAST),
        _ood_key_length,
    ),
    Copy(
        "the length of OOD's session key (gate-key-short's hint)",
        "scripts/atelier/messages.py",
        lambda: _key_hint("makes"),
        _ood_key_length,
    ),
    Copy(
        "the drain's wait",
        f"{EXTENSIONS}/atelier_drain/__init__.py",
        lambda: extension("atelier_drain").SECONDS,
        lambda: server.DRAIN_SECONDS,
    ),
    # 4. The gate's login route, and the OOD card's form that posts to it.
    Copy(
        "the login route",
        f"{EXTENSIONS}/atelier_gate/__init__.py",
        lambda: extension("atelier_gate").LOGIN,
        lambda: server.LOGIN,
    ),
    Copy(
        "the login route",
        "ood/comfyui/view.html.erb",
        lambda: "/" + only(r'action="<%= base %>([^"]*)"', "ood/comfyui/view.html.erb"),
        lambda: server.LOGIN,
    ),
    # 6. The date-time a comparison's folder is named by, as atelier names what it keeps aside.
    Copy(
        "the aside stamp",
        FOLDER,
        lambda: extension("atelier_compare.folder").new_folder(ROOT / "nowhere", WHEN).name,
        lambda: files.aside_stamp(WHEN),
    ),
    Copy(
        "the aside stamp (the pattern of a comparison's folder)",
        FOLDER,
        lambda: bool(extension("atelier_compare.folder").STAMP.match(files.aside_stamp(WHEN))),
        lambda: True,
    ),
    # Others of the kind: the bench's routes, the space notices' pattern and blanks, the browser scripts' routes.
    Copy(
        "the bench's reset route",
        f"{EXTENSIONS}/atelier_bench/__init__.py",
        lambda: only(r'routes\.post\("([^"]+)"\)', f"{EXTENSIONS}/atelier_bench/__init__.py"),
        lambda: bench.RESET,
    ),
    Copy(
        "the bench's peaks route",
        f"{EXTENSIONS}/atelier_bench/__init__.py",
        lambda: only(r'routes\.get\("([^"]+)"\)', f"{EXTENSIONS}/atelier_bench/__init__.py"),
        lambda: bench.PEAKS,
    ),
    Copy(
        "a full disk, as Python words it",
        f"{SPACE}/__init__.py",
        lambda: (extension("atelier_space").NO_SPACE.pattern, extension("atelier_space").NO_SPACE.flags),
        lambda: (headless.NO_SPACE.pattern, headless.NO_SPACE.flags),
    ),
    Copy(
        "folder-low's blanks",
        f"{SPACE}/__init__.py",
        lambda: _placeholders(extension("atelier_space").FALLBACK_LOW),
        lambda: MESSAGES["folder-low"].fields(),
    ),
    Copy(
        "folder-full's blanks",
        f"{SPACE}/__init__.py",
        lambda: _placeholders(extension("atelier_space").FALLBACK_FULL),
        lambda: MESSAGES["folder-full"].fields(),
    ),
    Copy(
        "the space route",
        f"{SPACE}/web/space.js",
        lambda: only(r'api\.fetchApi\("([^"]+)"\)', f"{SPACE}/web/space.js"),
        lambda: extension("atelier_space").ROUTE,
    ),
    Copy(
        "the notices' event",
        f"{SPACE}/web/space.js",
        lambda: only(r'const EVENT = "([^"]+)"', f"{SPACE}/web/space.js"),
        lambda: extension("atelier_space").EVENT,
    ),
    Copy(
        "the Compare page's route",
        f"{COMPARE}/web/compare.js",
        lambda: only(r'api\.fileURL\("([^"]+)"\)', f"{COMPARE}/web/compare.js"),
        lambda: extension("atelier_compare").PAGE,
    ),
]


@pytest.mark.parametrize("copy", COPIES, ids=lambda c: c.name)
def test_each_copy_matches_its_source(copy: Copy) -> None:
    """A copy that drifts from its source breaks silently at run time, on a cluster: here it breaks first."""
    assert copy.copy() == copy.source(), f"{copy.file} holds a copy of {copy.fact} that no longer matches its source"


# Others of the kind: each ATELIER_* setting an extension reads, which ComfyServer.start() must pass it.
SETTINGS = [
    (str(path.relative_to(ROOT)), name)
    for path in sorted((ROOT / EXTENSIONS).glob("atelier_*/*.py"))
    for name in re.findall(r'environ\.get\("(ATELIER_\w+)"', path.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize(("file", "name"), SETTINGS, ids=[f"{name} in {file}" for file, name in SETTINGS])
def test_each_setting_an_extension_reads_is_passed(file: str, name: str) -> None:
    """A renamed setting on either side leaves the extension on its fallback without a word."""
    passed = set(re.findall(r'"(ATELIER_\w+)":', text("scripts/atelier/comfy/server.py")))
    assert name in passed, f"{file} reads {name}, which comfy/server.py does not pass (it passes {sorted(passed)})"


def test_the_copies_are_found() -> None:
    """The searches above must see the copies, or they would hold nothing."""
    assert {"ood/comfyui/form.yml.erb", "ood/comfyui/submit.yml.erb", "ood/comfyui/template/script.sh.erb"} <= set(
        OOD_TEMPLATES
    )
    assert {name for _, name in SETTINGS} >= {"ATELIER_GATE_TOKEN_FILE", "ATELIER_DRAIN_SECONDS", "ATELIER_OUTPUTS"}


# The pages a maintainer or student reads type some of the same facts: a path to look in, a
# folder to open. Each kind is found by its shape, and every mention must be the value the code
# uses, so a renamed folder or route cannot leave the Runbook pointing at the old one.
PAGES = sorted((ROOT / "docs").rglob("*.md"))
FOLDER_NAME = r"atelier-(?:comfy|output)[\w-]*"
PAGE_FACTS = [
    (
        "an app's site file",
        r"/etc/ood/config/apps/[\w.<>-]+/[\w.-]+",
        {
            ood.SITE_FILE.as_posix(),
            ood.box_site_file("box").as_posix(),
            ood.box_site_file("classwall").as_posix(),
            *(ood.tool_site_file(name).as_posix() for name in load_pin(ROOT / PIN_PATH).tools),
        },
    ),
    ("the login route", r"(?<![\w.~-])/atelier/\w+", {server.LOGIN}),  # a route, not a folder such as src/atelier/
    (
        "a student's folder",
        FOLDER_NAME,
        {PurePosixPath(layout.USER_FOLDER).name, PurePosixPath(layout.OUTPUTS).name, slurm.JOB_NAME},
    ),
]


@pytest.mark.parametrize(("fact", "shape", "values"), PAGE_FACTS, ids=[fact for fact, _, _ in PAGE_FACTS])
def test_each_page_names_the_values_the_code_uses(fact: str, shape: str, values: set[str]) -> None:
    found = {
        f"{page.relative_to(ROOT)}: {mention}"
        for page in PAGES
        for mention in re.findall(shape, page.read_text(encoding="utf-8"))
        if mention not in values
    }
    assert not found, f"these pages name {fact} the code does not use (it uses {sorted(values)}): {sorted(found)}"
    assert any(re.search(shape, page.read_text(encoding="utf-8")) for page in PAGES)  # the shape still finds them
