"""An MkDocs plugin that keeps the site local and its links whole, with file and line.

Three promises are checked at build time, so a broken page cannot be published:

* Nothing loads from another host. A theme setting that would (web fonts, repository
  facts), a page that embeds a remote script, style or image, or a diagram type whose
  library Material fetches from a CDN fails the build. Links a reader may click are fine.
* Internal links, anchors and images resolve, and every image has alt text. MkDocs'
  own validation names only the file; these warnings add the line, and `strict: true`
  turns every warning into a failed build. A notebook's source is JSON, not Markdown,
  so its links and pictures are checked in the HTML it renders to.
* The prose says only what is so: a sentence claiming a check ran comes from the
  recorded reports (site/pages/records.py), and no page shows a generator's placeholder,
  a count written for any number ("1 hours") or an unpaired bracket.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from html import unescape
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

log = get_plugin_logger("atelier")

# Attributes that make a browser fetch something as soon as the page loads.
LOADING = {
    "script": ["src"],
    "img": ["src", "srcset"],
    "iframe": ["src"],
    "audio": ["src"],
    "video": ["src", "poster"],
    "source": ["src", "srcset"],
    "track": ["src"],
    "embed": ["src"],
    "object": ["data"],
    "image": ["href"],
    "use": ["href"],
}
LOADING_REL = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "icon", "manifest"}
CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])([^'")\s]+)""")
# What nbconvert writes as the alt text of a notebook's picture output: no description at all.
NBCONVERT_ALT = "No description has been provided for this image"
# Material fetches these libraries from a CDN when a page uses them.
CDN_FEATURES = {'class="mermaid"': "a Mermaid diagram", 'class="arithmatex"': "MathJax/KaTeX maths"}
# A sentence that says a check or a measurement ran: on a reader's page it must come from the
# records (site/pages/records.py), whose element the check skips; typed anywhere there, it fails.
CLAIMS = re.compile(
    r"\b(?:nightly|every night|on every change|checked to work|run automatically|"
    r"(?:checked|tested|measured|verified) (?:on|with) (?:a|the) (?:GPU|real models)|"
    r"a picture takes (?:a few )?seconds)\b",
    re.IGNORECASE,
)
# A count written for any number: "1 hours", "hour(s)". Counts go through messages.plural.
COUNTS = re.compile(
    r"(?<![\d.,])1 (?:hours|minutes|pictures|modules|lessons|students|GPUs|sessions|weeks|cores)\b"
    r"|\b[a-z]+\(s\)"
)
# A sentence-sized block of text, whose brackets must pair up: "(from session" alone reads as a typo.
BLOCKS = re.compile(r"<(p|li|td|th|h\d|figcaption)\b[^>]*>(.*?)</\1>", re.DOTALL)
RECORDS = re.compile(r'<span class="atelier-record">.*?</span>', re.DOTALL)
READER_PAGES = ("index.md", "start/", "teach/", "lessons/", "how-to/")
# What a generator writes when it has no real value to show: a reader must never see one.
PLACEHOLDERS = re.compile(r"Sentinel\.\w+|<object object at 0x|\bUNSET\b|\bN/A\b|\{\{ *\w+ *\}\}")

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
MD_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
HTML_ATTR = re.compile(r"""(\w+)\s*=\s*("[^"]*"|'[^']*')""")
ID_ATTR = re.compile(r"""\bid=["']([^"']+)["']""")


def is_external(url: str) -> bool:
    """True for a URL that names another host (http:, https:, protocol-relative)."""
    url = url.strip()
    return url.startswith("//") or urlsplit(url).scheme in {"http", "https", "ftp", "ws", "wss"}


class _Loads(HTMLParser):
    """Collects every URL the page would fetch on load."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        names = list(LOADING.get(tag, []))
        if tag == "link" and LOADING_REL & set(values.get("rel", "").lower().split()):
            names.append("href")
        for name in names:
            for url in re.split(r",\s*", values.get(name, "")) if name == "srcset" else [values.get(name, "")]:
                if url:
                    self.urls.append((tag, url.split()[0]))
        for url in CSS_URL.findall(values.get("style", "")):
            self.urls.append((f"{tag} style", url))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls += [("style", url) for url in CSS_URL.findall(data)]


class _Refs(HTMLParser):
    """Links and pictures in rendered HTML: (tag, URL, alt text or None)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "a" and values.get("href"):
            self.refs.append((tag, values["href"], None))
        elif tag == "img":
            self.refs.append((tag, values.get("src", ""), values.get("alt", "")))


def external_loads(html: str) -> list[tuple[str, str]]:
    """The (tag, URL) pairs in `html` that would load from another host."""
    parser = _Loads()
    parser.feed(html)
    return [(tag, url) for tag, url in parser.urls if is_external(url)]


@dataclass(frozen=True)
class Link:
    source: str  # docs-relative path of the page, e.g. "docs/start/index.md"
    line: int
    target: str
    image: bool
    alt: str


def find_links(markdown: str) -> list[Link]:
    """Markdown links and images (and HTML <img>) with their line, outside code."""
    found: list[Link] = []
    in_fence = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = INLINE_CODE.sub("", line)
        for bang, text, target in MD_LINK.findall(line):
            found.append(Link("", number, target, bool(bang), text.strip()))
        for tag in HTML_IMG.findall(line):
            attrs = {k.lower(): v[1:-1] for k, v in HTML_ATTR.findall(tag)}
            found.append(Link("", number, attrs.get("src", ""), True, attrs.get("alt", "").strip()))
    return found


def is_notebook(page: Page) -> bool:
    return page.file.src_uri.endswith(".ipynb")


def _where(config: MkDocsConfig, page: Page) -> str:
    root = Path(config.config_file_path).parent if config.config_file_path else Path.cwd()
    docs = Path(config.docs_dir)
    try:
        docs = docs.relative_to(root)
    except ValueError:
        pass
    return (docs / page.file.src_uri).as_posix()


class SiteChecks(BasePlugin):
    """Registered as the `atelier-checks` plugin; state lives for one build."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        self.links: list[tuple[Link, str, str]] = []  # (link, target page, anchor)
        self.anchors: dict[str, set[str]] = {}  # page -> ids in its HTML
        problems = []
        if config.theme.get("font") is not False:
            problems.append("theme.font loads web fonts from Google: set 'font: false'")
        if config.repo_url:
            problems.append("repo_url makes every page ask the repository host for stars and forks: remove it")
        for key in ("extra_css", "extra_javascript"):
            for item in config[key]:
                if is_external(str(item)):
                    problems.append(f"{key} entry {item} is on another host: vendor it under docs/assets/")
        for problem in problems:
            log.warning("mkdocs.yml: %s", problem)
        return config

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if is_notebook(page):
            return markdown  # JSON: checked once rendered, in on_page_content
        where = _where(config, page)
        for link in find_links(markdown):
            if link.image and not link.alt:
                log.warning(
                    "%s:%d: image '%s' has no alt text: describe what matters in it", where, link.line, link.target
                )
            if is_external(link.target):
                if link.image:
                    log.warning(
                        "%s:%d: image '%s' loads from another host: save it under docs/", where, link.line, link.target
                    )
                continue
            parts = urlsplit(link.target)
            if parts.scheme or (not parts.path and not parts.fragment):
                continue  # mailto:, tel: and the like
            if parts.path:
                if parts.path.startswith("/"):
                    continue  # MkDocs' absolute_links validation reports these
                base = posixpath.dirname(page.file.src_uri)
                uri = posixpath.normpath(posixpath.join(base, unquote(parts.path)))
                if uri.endswith("/") or not PurePosixPath(uri).suffix:
                    uri = posixpath.join(uri, "index.md")
                target = files.get_file_from_path(uri)
                if target is None:
                    kind = "image" if link.image else "link target"
                    log.warning(
                        "%s:%d: %s '%s' does not exist (looked for docs/%s)", where, link.line, kind, link.target, uri
                    )
                    continue
            else:
                uri = page.file.src_uri
            if parts.fragment:
                self.links.append((Link(where, link.line, link.target, link.image, link.alt), uri, parts.fragment))
        return markdown

    def on_page_content(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        self.anchors[page.file.src_uri] = set(ID_ATTR.findall(html))
        if is_notebook(page):
            self._check_rendered(html, page, config, files)
        for marker, feature in CDN_FEATURES.items():
            if marker in html:
                log.warning("%s: uses %s, whose library the theme loads from a CDN", _where(config, page), feature)
        self._check_prose(html, page, config)
        return html

    def _check_prose(self, html: str, page: Page, config: MkDocsConfig) -> None:
        """What a reader would take for a fact or a typo: a typed claim of a check, an unpaired bracket,
        a count for any number, a generator's placeholder. Code and preformatted text are exempt."""
        where = _where(config, page)
        prose = re.sub(r"<(?:code|pre)\b.*?</(?:code|pre)>", "", html, flags=re.DOTALL)
        if page.file.src_uri.startswith(READER_PAGES):
            for claim in sorted({m.lower() for m in CLAIMS.findall(RECORDS.sub("", prose))}):
                log.warning(
                    "%s: says '%s', a claim about checks that only the recorded reports may make "
                    "(put <!-- check record --> there instead)",
                    where,
                    claim,
                )
        for _, block in BLOCKS.findall(prose):
            text = unescape(re.sub(r"<[^>]+>", "", block))
            if text.count("(") != text.count(")"):
                log.warning("%s: unbalanced brackets in '%s'", where, " ".join(text.split())[:80])
        for found in sorted(set(COUNTS.findall(prose))):
            log.warning("%s: says '%s': write the count with messages.plural", where, found)
        for found in sorted(set(PLACEHOLDERS.findall(html))):
            log.warning(
                "%s: shows the placeholder '%s' where a real value belongs (%d times)", where, found, html.count(found)
            )

    def _check_rendered(self, html: str, page: Page, config: MkDocsConfig, files: Files) -> None:
        """A notebook's links and pictures, by the URLs they have in the built site."""
        where = _where(config, page)
        lines = (page.markdown or "").splitlines()
        by_url = {posixpath.normpath(f.url or "."): f for f in files if f.url is not None}
        base = page.url if page.url.endswith("/") else posixpath.dirname(page.url)
        parser = _Refs()
        parser.feed(html)
        for tag, url, alt in parser.refs:
            line = next((n for n, text in enumerate(lines, start=1) if url and url in text), 1)
            if tag == "img" and (alt or "").strip() in ("", NBCONVERT_ALT):
                log.warning("%s:%d: a picture in the notebook has no alt text: show it as HTML with alt", where, line)
            parts = urlsplit(url)
            if is_external(url) or parts.scheme or (not parts.path and not parts.fragment):
                continue
            target = page.file
            if parts.path:
                found = by_url.get(posixpath.normpath(posixpath.join(base, unquote(parts.path))))
                if found is None:
                    log.warning(
                        "%s:%d: link target '%s' does not exist in the built site (a notebook links to "
                        "pages by their URL, e.g. ../other-page/)",
                        where,
                        line,
                        url,
                    )
                    continue
                target = found
            if parts.fragment:
                self.links.append((Link(where, line, url, tag == "img", alt or ""), target.src_uri, parts.fragment))

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        lines = (page.markdown or "").splitlines()
        for tag, url in external_loads(output):
            line = next((f":{n}" for n, text in enumerate(lines, start=1) if url in text), "")
            log.warning("%s%s: <%s> loads %s from another host", _where(config, page), line, tag, url)
        return output

    def on_post_build(self, config: MkDocsConfig) -> None:
        for link, uri, anchor in self.links:
            anchors = self.anchors.get(uri)
            if anchors is not None and anchor not in anchors:
                log.warning(
                    "%s:%d: link '%s': no heading or anchor '#%s' in docs/%s",
                    link.source,
                    link.line,
                    link.target,
                    anchor,
                    uri,
                )
        site = Path(config.site_dir)
        for css in site.rglob("*.css"):
            for url in CSS_URL.findall(css.read_text(encoding="utf-8", errors="replace")):
                if is_external(url):
                    log.warning("%s: stylesheet loads %s from another host", css.relative_to(site), url)
