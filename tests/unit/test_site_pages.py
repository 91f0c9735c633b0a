"""Generated pages are made from their sources, so a changed source changes the page."""

from __future__ import annotations

import dataclasses

from atelier.messages import MESSAGES
from atelier.site.plugin import troubleshooting_page


def test_every_message_is_on_the_troubleshooting_page() -> None:
    page = troubleshooting_page(MESSAGES)
    for message in MESSAGES.values():
        assert f"{{#{message.code}}}" in page
    assert "### The semester pin `<file>` was not found. {#pin-missing}" in page


def test_a_changed_message_changes_the_page() -> None:
    changed = dict(MESSAGES)
    changed["pin-missing"] = dataclasses.replace(MESSAGES["pin-missing"], hint="Ask the lab manager.")
    assert "**What to do:** Ask the lab manager." in troubleshooting_page(changed)
    assert "**What to do:** Ask the lab manager." not in troubleshooting_page(MESSAGES)
