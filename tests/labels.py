"""The labels of other programs' buttons and menus that pages and messages tell students to press.

Pages name ComfyUI's, InvokeAI's and Open OnDemand's own words. ComfyUI's and Open OnDemand's lists
are held to those programs' sources in their tiers (tests/comfyui/test_labels.py,
tests/ood/test_labels.py); InvokeAI's are the words its screenshots click
(scripts/atelier/site/screenshots_tools.py). Every label a page or message names is held to these
lists, or to Atelier's own apps, in the unit tier.
"""

from __future__ import annotations

import re
from pathlib import Path

from atelier.hpc.profiles import all_profiles
from atelier.lessons.pin import PIN_PATH, load_pin
from atelier.tools.declaration import load_tools

ROOT = Path(__file__).resolve().parents[1]

# ComfyUI's frontend, as its own strings spell them.
COMFYUI = ("Run", "Workflows", "Save Image", "Export", "Browse")
# Open OnDemand's dashboard, as its locale and views spell them.
OOD = ("Launch", "Delete", "Interactive Apps", "My Interactive Sessions", "Files", "Clusters", "Download", "Session ID")
# InvokeAI 6.14.2's page, as its English locale spells them; `atelier screenshots --tool invokeai` clicks each.
INVOKEAI = ("Canvas", "Invoke", "Accept", "Inpaint Mask", "Add Layer")
# Things a page points at that carry no text of their own.
DESCRIBED = ("ComfyUI logo",)

PRESSED = re.compile(r"\b(?:[Pp]ress|[Cc]lick|[Cc]hoose|[Oo]pen|[Ss]elect|[Tt]ap)(?: the| on)? \*\*([^*]+)\*\*")
BUTTON = re.compile(r"\b(?:the|its) ([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*) button")


def own_labels() -> str:
    """The text of Atelier's own apps: the OOD apps, the dashboard pages, ComfyUI extensions, keep's pages."""
    sources = [
        *ROOT.glob("ood/*/*.erb"),
        *ROOT.glob("ood/*/manifest.yml"),
        *ROOT.glob("scripts/atelier/web/*.py"),
        *ROOT.glob("scripts/atelier/comfy/extensions/*/*"),
        *ROOT.glob("scripts/atelier/keep/*.py"),
    ]
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sources if p.is_file())
    # The Box app names the backup by its profile's title; the session app's card names its tool (each is
    # deployed from the one app).
    text = "\n".join(
        text.replace("<%= title %>", tool.title) for tool in load_tools(ROOT, load_pin(ROOT / PIN_PATH).tool_names)
    )
    return "\n".join(text.replace("{self.e(self.title)}", title) for title in {p.backup.title for p in all_profiles()})
