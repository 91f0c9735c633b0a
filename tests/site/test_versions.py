"""One docs version per semester pin, published with mike, with a working selector."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import current_pin, free_port, mike, project_copy, publish


def test_two_semesters_are_published_and_selectable(tmp_path: Path, page: Page) -> None:
    repo = project_copy(tmp_path / "project")
    current = current_pin()
    year = current.semester.split("-")[0]
    earlier = dataclasses.replace(current, semester=f"{year}-summer")  # same year: order must still hold
    publish(repo, earlier)
    publish(repo, current, "latest")
    mike(repo, "set-default", "latest")

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mike"), "serve", "--branch", "pages", "--dev-addr", f"127.0.0.1:{port}"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}/"
        versions = None
        for _ in range(100):
            try:
                versions = json.load(urllib.request.urlopen(base + "versions.json"))
                break
            except OSError:
                time.sleep(0.1)
        assert versions is not None, "mike serve did not answer"
        assert [(v["version"], v["title"]) for v in versions] == [
            (current.docs_version, current.docs_title),
            (earlier.docs_version, earlier.docs_title),
        ], "newest semester first"
        assert versions[0]["aliases"] == ["latest"]

        page.goto(base)  # the root redirects to the default alias, the current semester
        expect(page).to_have_url(f"{base}latest/")
        selector = page.locator(".md-version")
        expect(selector.locator(".md-version__current")).to_have_text(current.docs_title)
        selector.hover()
        choices = selector.locator(".md-version__link")
        expect(choices).to_have_count(2)
        expect(choices.nth(1)).to_have_text(earlier.docs_title)
        choices.nth(1).click()
        expect(page).to_have_url(f"{base}{earlier.docs_version}/")
        expect(page.locator(".md-version__current")).to_have_text(earlier.docs_title)
    finally:
        server.terminate()
        server.wait(timeout=10)
