"""Open OnDemand's Passenger starts this, as the user, in their own nginx: one of Atelier's dashboard apps.

`atelier ood deploy` copies this one file into each Passenger app it deploys (Box backup,
Class wall). Passenger runs it with the system Python, which has no atelier. It reads the
app's site file (JSON, so the standard library can), starts again under the install's
Python named there (Passenger's own way to choose an interpreter), then serves the module
the site file names.
"""

import importlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# `atelier ood deploy` writes it, named after the folder the app is deployed as; tests point elsewhere.
SITE_FILE = Path(os.environ.get("ATELIER_SITE_FILE") or f"/etc/ood/config/apps/{HERE.name}/atelier.json")
SETTINGS = json.loads(SITE_FILE.read_text(encoding="utf-8"))
INTERP = SETTINGS["python"]

if sys.executable != INTERP and not os.environ.get("ATELIER_RESTARTED"):
    os.environ["ATELIER_RESTARTED"] = "1"  # once: a Python that names itself otherwise must not loop
    os.execl(INTERP, INTERP, *sys.argv)

application = importlib.import_module(SETTINGS["serves"]).application_from(
    SITE_FILE
)  # only the install's Python has it
