"""An MkDocs plugin that generates pages from the artifacts they describe.

Pages that restate a source of truth (the message catalogue, the glossary) are never
typed into `docs/`: they are made here at build time, so they cannot drift. The
glossary also becomes abbreviations appended to every page, which Material shows as
tooltips wherever a term appears.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from atelier.hpc.profiles import FOR_STUDENTS, Profile, missing_for_students, sbatch_options
from atelier.keep import ledger
from atelier.keep.backup import COMFYUI, OUTPUTS, REPLACED
from atelier.lessons.convert import to_api
from atelier.lessons.modules import tagged
from atelier.messages import MESSAGES, AtelierError, Message
from atelier.project import Project
from atelier.site.graph import draw
from atelier.site.markdown import table
from atelier.site.pages import benchmarks as benchpage
from atelier.site.pages import lessons, runbook
from atelier.site.pages import start as startpages
from atelier.site.pages import teach as teachpages
from atelier.site.pages.lesson_status import load_reports, status_page
from atelier.site.pages.records import RECORD_MARKER, record_sentences
from atelier.site.pages.start import preview_banner

GLOSSARY = "glossary.yml"
GLOSSARY_PAGE = "reference/glossary.md"
LESSONS_INDEX = "lessons/index.md"
STATUS_PAGE = "lessons/status.md"
MODULES_MARKER = "<!-- lesson list -->"
CLUSTERS_MARKER = "<!-- cluster profiles -->"
BACKUP_MARKER = "<!-- backup per cluster -->"
LEDGER_MARKER = "<!-- ledger columns -->"
READERS = {"student": "Students", "instructor": "Instructors", "maintainer": "Maintainers"}
PREVIEW = "ATELIER_SITE_PREVIEW"  # =1: build a preview, with a banner where a profile value is missing
# A page holding one of these shows students the profile fields named.
NEEDS = {startpages.CLUSTERS_MARKER: {"ondemand_url", "account_url", "support"}, BACKUP_MARKER: {"backup.client_id"}}


def publish_gaps(profiles: list[Profile]) -> list[str]:
    """Each value a published site would send students to but the profiles lack, as 'file: field (what for)'."""
    return [f"{p.file}: {name}: {FOR_STUDENTS[name]}" for p in profiles for name in missing_for_students(p)]


def load_glossary(docs_dir: Path) -> dict[str, str]:
    """Term -> one-sentence definition, in the order written."""
    path = docs_dir / GLOSSARY
    return _read_glossary(path, path.stat().st_mtime_ns)


@cache
def _read_glossary(path: Path, mtime_ns: int) -> dict[str, str]:
    """Read once per version of the file (`mkdocs serve` rebuilds on every save)."""
    try:
        glossary = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise PluginError(f"{path}:{line}: not valid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(glossary, dict) or not all(isinstance(v, str) for v in glossary.values()):
        raise PluginError(f"{path}: expected 'term: one-sentence definition' lines")
    return glossary


def glossary_page(glossary: dict[str, str]) -> str:
    lines = [
        "# Glossary",
        "",
        "Words you will meet in the lessons, in plain language. Anywhere on this site, "
        "hover over (or tap) one of these words to see its meaning.",
        "",
    ]
    for term in sorted(glossary, key=str.casefold):
        lines += [term, f":   {glossary[term]}", ""]
    return "\n".join(lines)


def troubleshooting_page(catalogue: dict[str, Message]) -> str:
    lines = [
        "# When something goes wrong",
        "",
        "Every message the Atelier tools can print is listed here, with what it means and "
        "what to do. A word in angle brackets, like `<file>`, is filled in with the real "
        "name when the message appears.",
        "",
    ]
    for reader, heading in READERS.items():
        messages = [m for m in catalogue.values() if m.reader == reader]
        if messages:
            lines += [f"## {heading}", "", *startpages.message_entries(messages)]
    return "\n".join(lines)


def clusters_table(profiles: list[Profile]) -> str:
    """One row per GPU choice of every cluster profile: what a session asks Slurm for."""
    rows = []
    for profile in profiles:
        for gpu in profile.gpus.values():
            options = " ".join(f"`{option}`" for option in sbatch_options(profile, gpu))
            rows.append(
                [
                    f"{profile.title} (`{profile.name}`)",
                    f"{gpu.title} (`{gpu.name}`)",
                    options,
                    f"{profile.default_hours} ({profile.max_hours})",
                    f"`{profile.prefix or 'this checkout'}`",
                    f"`{profile.models or 'none'}`",
                ]
            )
    return table(["cluster", "choice", "sbatch options", "hours (most)", "software prefix", "model store"], rows)


def backup_table(profiles: list[Profile]) -> str:
    """Per installed cluster: where sessions back up to, and how often."""
    rows = []
    for profile in profiles:
        settings = profile.backup
        every = (
            f"every {settings.every_minutes} minutes and when the session ends"
            if settings.every_minutes
            else "only when you ask"
        )
        rows.append(
            [
                profile.title,
                f"your {settings.title}: `{settings.folder}/{OUTPUTS}` and `{settings.folder}/{COMFYUI}`",
                every,
            ]
        )
    return table(["cluster", "backed up to", "how often"], rows)


def ledger_table() -> str:
    """The ledger's columns, from the code that writes them."""
    rows = [[f"`{name}`", meaning] for name, meaning in ledger.MEANINGS.items()]
    return (
        table(["column", "what it holds"], rows)
        + f"\n\nOlder copies replaced by a changed file are kept under `{REPLACED}/<date>/`."
    )


def expand_markers(markdown: str, project: Project, where: str) -> str:
    """A typed page with each marker comment replaced by what it stands for (the page linter reads this too)."""
    for marker, make in MARKERS.items():
        if marker in markdown:
            try:
                markdown = markdown.replace(marker, make(project))
            except AtelierError as err:  # a bad profile, pin or module: named, not a traceback
                raise PluginError(f"{where}: {marker}: {err}") from None
    return markdown


def made_pages(project: Project, docs_dir: Path) -> tuple[dict[str, str], dict]:
    """(site path -> Markdown of every page the build makes, lesson slug -> its API prompt).

    The page linter reads these same pages. A module that cannot be converted raises
    AtelierError; the node list is read only when there are modules.
    """
    titles = {m.slug: m.title for m in project.modules}
    pages = {
        "reference/troubleshooting.md": troubleshooting_page(MESSAGES),
        STATUS_PAGE: status_page(load_reports(project.status), titles),
    }
    if (docs_dir / GLOSSARY).is_file():
        pages[GLOSSARY_PAGE] = glossary_page(load_glossary(docs_dir))
    prompts = {}
    pinned = project.pin.custom_nodes if project.pin_path.is_file() else []
    for module in project.modules:
        prompts[module.slug], _ = to_api(module.workflow, project.nodes, module.workflow_path)
        pages[f"lessons/{module.slug}.md"] = lessons.lesson_page(
            module,
            project.nodes,
            prompts[module.slug],
            titles,
            project.screenshots,
            project.knob_pictures,
            pinned=pinned,
        )
    return pages, prompts


# Any page may hold one of these markers; the build puts the text made from the project in its place.
MARKERS: dict[str, Callable[[Project], str]] = {
    CLUSTERS_MARKER: lambda p: clusters_table(p.profiles),
    BACKUP_MARKER: lambda p: backup_table(p.installed_profiles),
    LEDGER_MARKER: lambda p: ledger_table(),
    RECORD_MARKER: lambda p: record_sentences(load_reports(p.status)),
    **startpages.MARKERS,
    **runbook.MARKERS,
    **teachpages.MARKERS,
    **benchpage.MARKERS,
}


class SitePages(BasePlugin):
    """Registered as the `atelier-pages` plugin."""

    preview = False  # `mkdocs serve`, or ATELIER_SITE_PREVIEW=1: show gaps; any other build refuses them

    def on_startup(self, *, command: str, dirty: bool) -> None:
        self.preview = command == "serve"

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        """The project is the folder of mkdocs.yml, wherever the build is started from."""
        self.project = Project(Path(config.config_file_path).parent if config.config_file_path else Path("."))
        self.preview = self.preview or os.environ.get(PREVIEW) == "1"
        try:
            gaps = publish_gaps(self.project.installed_profiles)
        except AtelierError as err:
            raise PluginError(str(err)) from None
        if gaps and not self.preview:
            raise PluginError(
                "The site cannot be published: Start here would send students to values the cluster "
                "profiles do not give. Fill in each, or build a preview with ATELIER_SITE_PREVIEW=1 "
                "(Runbook: Publishing the site):\n  " + "\n  ".join(gaps)
            )
        snippets = config.mdx_configs.get("pymdownx.snippets")
        if snippets:  # embedded files are named from the project, not from the folder the build runs in
            snippets["base_path"] = [str(self.project.root / base) for base in snippets.get("base_path") or ["."]]
        try:
            modules, _ = self.project.modules, self.project.nodes
        except AtelierError as err:
            raise PluginError(str(err)) from None
        for section in config.nav or []:
            if isinstance(section, dict) and "Lessons" in section:
                section["Lessons"] = [LESSONS_INDEX, {"Lesson status": STATUS_PAGE}, *lessons.nav(modules)]
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        try:
            pages, prompts = made_pages(self.project, Path(config.docs_dir))
        except AtelierError as err:
            raise PluginError(str(err)) from None
        titles = {m.slug: m.title for m in self.project.modules}
        names = lessons.display_names(self.project.nodes)
        for module in self.project.modules:
            values = {node_id: node.get("inputs", {}) for node_id, node in prompts[module.slug].items()}
            svg = draw(module.workflow, names, f"{titles[module.slug]}: the workflow", values)
            files.append(File.generated(config, f"lessons/{module.slug}/graph.svg", content=svg))
            for uri, source in lessons.files_to_publish(module).items():
                if source == module.workflow_path:  # tagged, so what students make with it names the lesson
                    content = json.dumps(tagged(module.workflow, module.slug), indent=1)
                    files.append(File.generated(config, uri, content=content))
                else:
                    files.append(File.generated(config, uri, abs_src_path=str(source.resolve())))
        for uri, content in pages.items():
            files.append(File.generated(config, uri, content=content))
        return files

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if page.file.src_uri == LESSONS_INDEX:
            markdown = markdown.replace(MODULES_MARKER, lessons.modules_table(self.project.modules))
        banner = "".join(
            preview_banner(self.project.installed_profiles, fields)
            for marker, fields in NEEDS.items()
            if marker in markdown
        )
        markdown = expand_markers(markdown, self.project, page.file.src_uri)
        if banner:  # under the page's title
            title, _, rest = markdown.partition("\n")
            markdown = f"{title}\n\n{banner}\n{rest}"
        if page.file.src_uri == GLOSSARY_PAGE:
            return markdown  # the definitions are already in full there
        glossary = load_glossary(Path(config.docs_dir))
        abbreviations = "\n".join(f"*[{term}]: {text}" for term, text in glossary.items())
        return f"{markdown}\n\n{abbreviations}\n"
