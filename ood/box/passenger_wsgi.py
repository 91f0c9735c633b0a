"""Open OnDemand's Passenger starts this, as the student, in their own nginx: the Box page.

Passenger runs it with the system Python, which has no atelier. It reads the app's site
file (JSON, so the standard library can), starts again under the install's Python named
there (Passenger's own way to choose an interpreter), then serves atelier.web.box.
"""

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# `atelier ood deploy` writes it, named after the folder the app is deployed as; tests point elsewhere.
SITE_FILE = Path(os.environ.get("ATELIER_BOX_SITE_FILE") or f"/etc/ood/config/apps/{HERE.name}/atelier.json")
INTERP = json.loads(SITE_FILE.read_text(encoding="utf-8"))["python"]

if sys.executable != INTERP and not os.environ.get("ATELIER_BOX_RESTARTED"):
    os.environ["ATELIER_BOX_RESTARTED"] = "1"  # once: a Python that names itself otherwise must not loop
    os.execl(INTERP, INTERP, *sys.argv)

from atelier.web.box import application_from  # noqa: E402  (only the install's Python has it)

application = application_from(SITE_FILE)
