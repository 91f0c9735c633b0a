"""Generated parts of the Start here pages, made from the files that decide them.

The launch form's fields come from the OOD form template, the per-cluster facts from
the cluster profiles, the messages from the catalogue: change one of those and the
page a student reads changes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import re

from mkdocs.exceptions import PluginError

from atelier.hpc import ood
from atelier.hpc.profiles import Profile
from atelier.messages import MESSAGES, Message
from atelier.project import Project
from atelier.site.markdown import cell, table
from atelier.site.pages import lessons

FORM_MARKER = "<!-- launch form fields -->"
CLUSTERS_MARKER = "<!-- clusters for students -->"
LIMITS_MARKER = "<!-- session limits -->"
STUDENT_MESSAGES_MARKER = "<!-- student messages -->"
START_HOURS_MARKER = "<!-- form starting hours -->"
USER_FOLDER_MARKER = "<!-- user folder per cluster -->"
ASK = "ask your instructor"
# Made by `atelier screenshots`: ComfyUI's screens, and the dashboard's Box backup app.
TOUR_SHOTS = ("tour-canvas", "tour-workflows", "tour-run", "first-image-done", "saved-next-session",
              "box-connect", "box-connected", "box-restored")


def launch_form(project: Project, profiles: list[Profile] | None = None) -> list[ood.FormField]:
    """The form as the site file of `profiles` (default: the installed clusters) fills it."""
    config = ood.site_config(project.installed_profiles if profiles is None else profiles, project.modules)
    return ood.form_fields(config, project.app / "form.yml.erb")


def form_table(form: list[ood.FormField]) -> str:
    """The launch form, field by field, in the order the form shows them."""
    rows = []
    for field in form:
        choices = "<br>".join(cell(c) for c in field.choices) if field.choices else "you type it"
        default = f"`{field.default}`" if field.default else "no"  # a list shows its first choice
        rows.append([f"**{field.label}**", cell(field.help), choices, default])
    return table(["Field", "What to put in it", "The choices", "Already filled in"], rows)


def clusters_table(profiles: list[Profile]) -> str:
    """Where each installed cluster's students ask for an account, sign in and get help."""
    rows = []
    for profile in profiles:
        account = f"[{profile.title} account request]({profile.account_url})" if profile.account_url else ASK
        dashboard = f"<{profile.ondemand_url}>" if profile.ondemand_url else ASK
        rows.append([profile.title, account, dashboard, profile.support or ASK])
    return table(["Cluster", "Ask for an account", "Sign in at", "Help"], rows)


def _hours(form: list[ood.FormField]) -> str:
    return {f.name: f.default for f in form}.get("hours", "")


def in_home(folder: str) -> str:
    """A profile's folder as a student finds it in the dashboard's Files: `$HOME/x` is x in their home folder."""
    for home in ("$HOME/", "${HOME}/", "~/"):
        if folder.startswith(home):
            return f"`{folder[len(home):]}` in your home folder"
    return f"`{folder}`"


def limits_table(form: list[ood.FormField], profiles: list[Profile]) -> str:
    """How long sessions may last and where files stay, per installed cluster."""
    rows = [[p.title, f"{p.max_hours} hours", in_home(p.outputs)] for p in profiles]
    return (f"The form starts at **{_hours(form)}** hour(s) for every cluster.\n\n"
            + table(["Cluster", "The longest session", "Pictures go to"], rows))


def user_folder_table(profiles: list[Profile]) -> str:
    """Where each installed cluster keeps a student's own ComfyUI folder and, by default, their pictures."""
    rows = [[p.title, in_home(p.user_folder), in_home(p.outputs)] for p in profiles]
    return table(["Cluster", "Your ComfyUI folder", "Pictures, unless the launch form says otherwise"], rows)


def starting_hours(form: list[ood.FormField]) -> str:
    """The hours the launch form starts at, as a phrase ("1 hour"), from the form itself."""
    hours = _hours(form)
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


# A message that names a command ('atelier status', --timeout) comes from the terminal tools:
# Reference → Troubleshooting lists it, and Start here's students never meet it.
TERMINAL = re.compile(r"'(?:atelier|rclone) [^']+'|(?<![\w-])--[a-z]")


def student_messages() -> str:
    """Every message a student can meet on the dashboard's path, from the catalogue the tools print from."""
    shown = [m for m in MESSAGES.values() if m.reader == "student" and not TERMINAL.search(m.text + m.hint)]
    return "\n".join(message_entries(shown, level=3))


def screenshot(name: str, folder: Path) -> str:
    """A tour picture from `folder` with the alt text written when it was taken, for a page in start/."""
    image = lessons.screenshot_image(folder, f"{name}.png")
    if image is None:
        raise PluginError(f"{folder / name}.png: missing, or without alt text in {lessons.SCREENSHOT_MANIFEST}; "
                          "run 'atelier screenshots' (Runbook: Publishing the site)")
    return image


MARKERS: dict[str, Callable[[Project], str]] = {
    **{f"<!-- screenshot {name} -->": (lambda p, name=name: screenshot(name, p.screenshots)) for name in TOUR_SHOTS},
    FORM_MARKER: lambda p: form_table(launch_form(p)),
    CLUSTERS_MARKER: lambda p: clusters_table(p.installed_profiles),
    LIMITS_MARKER: lambda p: limits_table(launch_form(p), p.installed_profiles),
    STUDENT_MESSAGES_MARKER: lambda p: student_messages(),
    START_HOURS_MARKER: lambda p: starting_hours(launch_form(p)),
    USER_FOLDER_MARKER: lambda p: user_folder_table(p.installed_profiles),
}
