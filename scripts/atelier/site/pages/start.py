"""Generated parts of the Start here pages, made from the files that decide them.

The launch form's fields come from the OOD form template, the per-cluster facts from
the cluster profiles, the messages from the catalogue: change one of those and the
page a student reads changes with it.
"""

from __future__ import annotations

from pathlib import Path
import re

from mkdocs.exceptions import PluginError

from atelier.hpc.profiles import installed_profiles
from atelier.site.pages import lessons
from atelier.hpc import ood
from atelier.messages import CATALOGUE, Message
from atelier.site.markdown import cell, table
from atelier.lessons.modules import all_modules

FORM_MARKER = "<!-- launch form fields -->"
CLUSTERS_MARKER = "<!-- clusters for students -->"
LIMITS_MARKER = "<!-- session limits -->"
STUDENT_MESSAGES_MARKER = "<!-- student messages -->"
START_HOURS_MARKER = "<!-- form starting hours -->"
ASK = "ask your instructor"
TOUR_SHOTS = ("tour-canvas", "tour-workflows", "tour-run", "first-image-done")  # made by `atelier screenshots`


def launch_form(root: Path = Path(".")) -> list[ood.FormField]:
    """The form as the installed clusters' site file fills it."""
    config = ood.site_config(installed_profiles(), all_modules(root / "workflows"))
    return ood.form_fields(config, root / ood.APP / "form.yml.erb")


def form_table(root: Path = Path(".")) -> str:
    """The launch form, field by field, in the order the form shows them."""
    rows = []
    for field in launch_form(root):
        choices = "<br>".join(cell(c) for c in field.choices) if field.choices else "you type it"
        default = f"`{field.default}`" if field.default else "no"  # a list shows its first choice
        rows.append([f"**{field.label}**", cell(field.help), choices, default])
    return table(["Field", "What to put in it", "The choices", "Already filled in"], rows)


def clusters_table() -> str:
    """Where each cluster's students ask for an account, sign in and get help."""
    rows = []
    for profile in installed_profiles():
        account = f"[{profile.title} account request]({profile.account_url})" if profile.account_url else ASK
        dashboard = f"<{profile.ondemand_url}>" if profile.ondemand_url else ASK
        rows.append([profile.title, account, dashboard, profile.support or ASK])
    return table(["Cluster", "Ask for an account", "Sign in at", "Help"], rows)


def limits_table(root: Path = Path(".")) -> str:
    """How long sessions may last and where files stay, per cluster."""
    hours = {f.name: f.default for f in launch_form(root)}.get("hours", "")
    rows = [[p.title, f"{p.max_hours} hours", f"`{p.outputs}`"] for p in installed_profiles()]
    return (f"The form starts at **{hours}** hour(s) for every cluster.\n\n"
            + table(["Cluster", "The longest session", "Pictures go to"], rows))


def starting_hours(root: Path = Path(".")) -> str:
    """The hours the launch form starts at, as a phrase ("1 hour"), from the form itself."""
    hours = {f.name: f.default for f in launch_form(root)}.get("hours", "")
    return f"{hours} hour" + ("" if hours == "1" else "s")


def placeholders(template: str) -> str:
    """Show `{file}` as a visible slot rather than a value."""
    return re.sub(r"\{(\w+)\}", r"`<\1>`", template)


def message_entries(messages: list[Message], level: int = 3) -> list[str]:
    """Each message as a heading (anchored by its code) with what to do."""
    lines = []
    for message in messages:
        lines += [
            f"{'#' * level} {placeholders(message.text)} {{#{message.code}}}",
            "",
            f"**What to do:** {placeholders(message.hint)}",
            "",
            f"Message code `{message.code}`.",
            "",
        ]
    return lines


def student_messages() -> str:
    """Every message a student can meet, from the catalogue the tools print from."""
    return "\n".join(message_entries([m for m in CATALOGUE.values() if m.reader == "student"], level=3))


def screenshot(name: str, root: Path = Path(".")) -> str:
    """A tour picture with the alt text written when it was taken, for a page in start/."""
    folder = root / lessons.SCREENSHOTS
    image = lessons.screenshot_image(folder, f"{name}.png")
    if image is None:
        raise PluginError(f"{folder / name}.png: missing, or without alt text in {lessons.SCREENSHOT_MANIFEST}; "
                          "run 'atelier screenshots' (Runbook: Publishing the site)")
    return image


MARKERS = {
    **{f"<!-- screenshot {name} -->": (lambda name=name: screenshot(name)) for name in TOUR_SHOTS},
    FORM_MARKER: form_table,
    CLUSTERS_MARKER: clusters_table,
    LIMITS_MARKER: limits_table,
    STUDENT_MESSAGES_MARKER: student_messages,
    START_HOURS_MARKER: starting_hours,
}
