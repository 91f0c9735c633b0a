"""Rendering the Open OnDemand app's templates with Ruby's own ERB, for the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "ood" / "comfyui"
RUBY = shutil.which("ruby")
NO_RUBY = "Ruby not found: run ./dev test as root, or apt-get install ruby"


def render(template: str, site_file: Path, app: Path = APP, **values: object) -> subprocess.CompletedProcess[str]:
    """Render `template` (relative to the app folder) with what OOD binds in it; the caller checks returncode."""
    assert RUBY, NO_RUBY
    return subprocess.run(
        [RUBY, str(ROOT / "tests" / "ood_render.rb"), str(app / template), json.dumps(values)],
        capture_output=True,
        text=True,
        env={**os.environ, "ATELIER_OOD_SITE": str(site_file)},
    )


def rendered(template: str, site_file: Path, app: Path = APP, **values: object) -> str:
    result = render(template, site_file, app, **values)
    assert result.returncode == 0, f"{template} did not render:\n{result.stderr}"
    return result.stdout
