"""Generated parts of the Start here pages, made from the files that decide them.

The launch form's fields come from the OOD form template, the per-cluster facts from
the cluster profiles, the messages from the message catalogue: change one of those and the
page a student reads changes with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mkdocs.exceptions import PluginError

from atelier.files import read_yaml
from atelier.hpc import ood
from atelier.hpc.profiles import FOR_STUDENTS, Profile, missing_for_students
from atelier.messages import MESSAGES, Message, plural
from atelier.project import Project
from atelier.site.markdown import cell, table
from atelier.site.pages import lessons

FORM_MARKER = "<!-- launch form fields -->"
CLUSTERS_MARKER = "<!-- clusters for students -->"
LIMITS_MARKER = "<!-- session limits -->"
STUDENT_MESSAGES_MARKER = "<!-- student messages -->"
START_HOURS_MARKER = "<!-- form starting hours -->"
USER_FOLDER_MARKER = "<!-- user folder per cluster -->"
# Made by `atelier screenshots`: ComfyUI's screens, and the dashboard's Box backup app.
TOUR_SHOTS = (
    "tour-canvas",
    "tour-workflows",
    "tour-run",
    "first-image-done",
    "saved-next-session",
    "box-connect",
    "box-connected",
    "box-restored",
)


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


def unset(field: str) -> str:
    """A value a preview build lacks (a published build refuses it): named, never papered over."""
    return f"**not set yet** (profile field `{field}`)"


def help_cell(support: str) -> str:
    return f"<{support}>" if "@" in support or support.startswith("http") else cell(support)


def clusters_table(profiles: list[Profile]) -> str:
    """Where each installed cluster's students ask for an account, sign in and get help."""
    rows = []
    for profile in profiles:
        account = (
            f"[{profile.title} account request]({profile.account_url})" if profile.account_url else unset("account_url")
        )
        dashboard = f"<{profile.ondemand_url}>" if profile.ondemand_url else unset("ondemand_url")
        rows.append(
            [profile.title, account, dashboard, help_cell(profile.support) if profile.support else unset("support")]
        )
    return table(["Cluster", "Ask for an account", "Sign in at", "Help"], rows)


def preview_banner(profiles: list[Profile], fields: set[str]) -> str:
    """A preview build's warning on a page whose `fields` some profile leaves empty ('' when none)."""
    gaps = [(p, name) for p in profiles for name in missing_for_students(p) if name in fields]
    if not gaps:
        return ""
    lines = [
        '!!! danger "Preview: not ready for students"',
        "",
        "    This page sends students to values the cluster profiles do not give yet, so a "
        "published build refuses to run until they are filled in (Runbook: First deployment, step 3):",
        "",
    ]
    lines += [f"    - {p.title}: `{name}` in `{p.file.name}`: {FOR_STUDENTS[name]}" for p, name in gaps]
    return "\n".join(lines) + "\n"


def _hours(form: list[ood.FormField]) -> str:
    return {f.name: f.default for f in form}.get("hours", "")


def in_home(folder: str) -> str:
    """A profile's folder as a student finds it in the dashboard's Files: `$HOME/x` is x in their home folder."""
    for home in ("$HOME/", "${HOME}/", "~/"):
        if folder.startswith(home):
            return f"`{folder[len(home) :]}` in your home folder"
    return f"`{folder}`"


def limits_table(form: list[ood.FormField], profiles: list[Profile]) -> str:
    """How long sessions may last and where files stay, per installed cluster."""
    rows = [[p.title, plural(p.max_hours, "hour"), in_home(p.outputs)] for p in profiles]
    return f"The form starts at **{starting_hours(form)}** for every cluster.\n\n" + table(
        ["Cluster", "The longest session", "Pictures go to"], rows
    )


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


# The messages a student meets with only a browser: in ComfyUI's page (its notices and the Compare
# page), in the dashboard's Box app, and in the session's log. Every other message comes from the
# terminal tools, and Reference: When something goes wrong lists it. A unit test holds each code
# here to a module that a browser session runs.
BROWSER_MESSAGES = (
    "folder-full",
    "folder-low",  # ComfyUI's page: a full folder
    "compare-nothing",
    "compare-knob-unknown",
    "compare-none-picked",  # ComfyUI's Compare page
    "compare-outside",
    "compare-failed",
    "user-folder-locked",
    "user-folder-unwritable",  # the session's log
    "backup-remote-unknown",
    "backup-denied",
    "backup-unreachable",
    "backup-failed",
    "box-app-unset",
    "box-signin-denied",
    "box-signin-stale",
    "box-token-refused",  # the Box app
    "box-unreachable",
    "box-page-unknown",
    "box-page-elsewhere",
    "box-page-failed",
)


def student_messages() -> str:
    """The messages a browser-only student can meet, from the message catalogue the tools print from."""
    return "\n".join(message_entries([MESSAGES[code] for code in BROWSER_MESSAGES], level=3))


def screenshot(name: str, folder: Path) -> str:
    """A tour picture from `folder` with the alt text written when it was taken, for a page in start/."""
    image = lessons.screenshot_image(folder, f"{name}.png")
    if image is None:
        raise PluginError(
            f"{folder / name}.png: missing, or without alt text in {lessons.SCREENSHOT_MANIFEST}; "
            "run 'atelier screenshots' (Runbook: Publishing the site)"
        )
    return image + noise_note(name, folder)


def noise_note(name: str, folder: Path) -> str:
    """Under a picture whose output a test model made (the manifest says so): it is noise, theirs will not be."""
    marks = (read_yaml(folder / lessons.SCREENSHOT_MANIFEST) or {}).get("marks") or {}
    label = ((marks.get(f"{name}.png") or {}).get("test_model_label") or {}).get("text")
    if not label:
        return ""
    return (
        f"\n\nThe picture in this page's screenshot is noise, labelled *{label}*: the screenshot was made "
        "with a test model. Your session uses a real model and paints the picture your words describe."
    )


# Made by `python -m tests.ood.screenshots` (tier ood): the dashboard's form and session card, drawn from
# Open OnDemand's own templates; their alt text is under the `ood` key of the screenshots' manifest.
OOD_SHOTS = ("ood-launch-form", "ood-session-queued", "ood-session-running")
OOD_MANIFEST_KEY = "ood"


def ood_screenshot(name: str, folder: Path) -> str:
    """A dashboard picture for a phone-wide column (its -390 crop), with a link to the full-width one."""
    import yaml

    manifest = folder / lessons.SCREENSHOT_MANIFEST
    data = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}) if manifest.is_file() else {}
    alts = (data.get(OOD_MANIFEST_KEY) or {}).get("screenshots") or {}
    crop, wide = f"{name}-390.png", f"{name}.png"
    if not all(alts.get(f) and (folder / f).is_file() for f in (crop, wide)):
        raise PluginError(
            f"{folder / wide}: missing, or without alt text under '{OOD_MANIFEST_KEY}' in "
            f"{lessons.SCREENSHOT_MANIFEST}; run 'python -m tests.ood.screenshots' (tests/README.md)"
        )
    where = f"../{lessons.SCREENSHOTS.relative_to(lessons.DOCS).as_posix()}"
    alt = alts[crop].replace("[", "(").replace("]", ")")
    return f"![{alt}]({where}/{crop})\n\n[The same on a wide screen]({where}/{wide})"


# Made by `atelier screenshots --tool invokeai`: the canvas page's pictures, under the manifest's `invokeai` key.
INVOKEAI_SHOTS = ("invokeai-canvas", "invokeai-first", "invokeai-layers", "invokeai-inpaint")


def tool_screenshot(name: str, folder: Path, tool: str = "invokeai") -> str:
    """A picture of a tool beside ComfyUI, with its alt text (which says its test model paints noise)."""
    image = lessons.screenshot_image(folder, f"{name}.png", section=tool)
    if image is None:
        raise PluginError(
            f"{folder / name}.png: missing, or without alt text under '{tool}' in {lessons.SCREENSHOT_MANIFEST}; "
            f"run 'atelier screenshots --tool {tool}' (Runbook: Publishing the site)"
        )
    return image


MARKERS: dict[str, Callable[[Project], str]] = {
    **{
        f"<!-- screenshot {name} -->": (lambda p, name=name: tool_screenshot(name, p.screenshots))
        for name in INVOKEAI_SHOTS
    },
    **{f"<!-- screenshot {name} -->": (lambda p, name=name: screenshot(name, p.screenshots)) for name in TOUR_SHOTS},
    **{f"<!-- screenshot {name} -->": (lambda p, name=name: ood_screenshot(name, p.screenshots)) for name in OOD_SHOTS},
    FORM_MARKER: lambda p: form_table(launch_form(p)),
    CLUSTERS_MARKER: lambda p: clusters_table(p.installed_profiles),
    LIMITS_MARKER: lambda p: limits_table(launch_form(p), p.installed_profiles),
    STUDENT_MESSAGES_MARKER: lambda p: student_messages(),
    START_HOURS_MARKER: lambda p: starting_hours(launch_form(p)),
    USER_FOLDER_MARKER: lambda p: user_folder_table(p.installed_profiles),
}
