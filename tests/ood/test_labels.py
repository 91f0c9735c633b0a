"""The Open OnDemand labels pages tell students to press are the dashboard's own words."""

from __future__ import annotations

import os
from pathlib import Path

from tests.labels import OOD
from tests.ood.conftest import needs_ood

pytestmark = needs_ood


def test_every_dashboard_label_a_page_names_is_in_open_ondemand() -> None:
    dashboard = Path(os.environ["OOD_DIR"]) / "apps" / "dashboard"
    words = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for p in [dashboard / "config" / "locales" / "en.yml", *(dashboard / "app" / "views").rglob("*.erb")]
    )
    missing = [label for label in OOD if label not in words]
    assert not missing, f"not in Open OnDemand's dashboard ({dashboard}): {missing}"
