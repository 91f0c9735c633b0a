"""Every page of the published site, in a real Chromium, as a reader meets it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, Route, expect

WCAG_22_A_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def site_pages(base: str, folder: Path) -> list[str]:
    """The URL of every page in the built version (the 404 page is not a page)."""
    pages = sorted(p.relative_to(folder).parent.as_posix() for p in folder.rglob("index.html"))
    return [base + ("" if p == "." else p + "/") for p in pages]


class Watch:
    """Everything that went wrong while pages loaded, named by page."""

    def __init__(self, context: BrowserContext) -> None:
        self.problems: list[str] = []
        self.current = ""
        context.route("**/*", self._route)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"{self.current}: request to another host: {url}")
            route.abort()

    def attach(self, page: Page) -> None:
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"{self.current}: console error: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"{self.current}: script error: {e}"))
        page.on(
            "requestfailed", lambda r: self.problems.append(f"{self.current}: failed request: {r.url} ({r.failure})")
        )
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"{self.current}: HTTP {r.status} for {r.url}"),
        )


def test_every_page_loads_cleanly_and_only_from_this_host(published_site, context: BrowserContext) -> None:
    base, folder = published_site
    pages = site_pages(base, folder)
    assert len(pages) >= 7, f"expected every section's page, found {pages}"
    watch = Watch(context)
    page = context.new_page()
    watch.attach(page)
    for url in pages:
        watch.current = url
        page.goto(url, wait_until="networkidle")
        expect(page.locator("h1").first).to_be_visible()
    assert not watch.problems, "\n".join(watch.problems)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_wcag_22_a_and_aa(published_site, context: BrowserContext, scheme: str) -> None:
    base, folder = published_site
    axe = Axe()
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    failures = []
    expected = {"light": "default", "dark": "slate"}[scheme]
    for url in site_pages(base, folder):
        page.goto(url, wait_until="networkidle")
        expect(page.locator("body")).to_have_attribute("data-md-color-scheme", expected)
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_22_A_AA}})
        for violation in results.response["violations"]:
            where = "; ".join(
                n["target"][0] if isinstance(n["target"][0], str) else str(n["target"]) for n in violation["nodes"][:3]
            )
            failures.append(f"{url} ({scheme}): {violation['id']}: {violation['help']} at {where}")
    assert not failures, "\n".join(failures)


def test_search_finds_comfyui(published_site, page: Page) -> None:
    base, _ = published_site
    page.goto(base)
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("ComfyUI")  # the theme searches on key events, as a reader types
    results = page.locator(".md-search-result__item")
    expect(results.first).to_be_visible(timeout=10_000)
    assert results.count() >= 3, f"only {results.count()} results for 'ComfyUI'"
    expect(page.locator(".md-search-result__meta")).to_contain_text("matching")


def test_phone_can_open_the_navigation(published_site, browser) -> None:
    base, _ = published_site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(base)
    menu = page.locator("label.md-header__button[for='__drawer']")
    expect(menu).to_be_visible()
    menu.click()
    drawer_link = page.locator("nav.md-nav--primary a.md-nav__link", has_text="Start here").first
    expect(drawer_link).to_be_in_viewport()
    drawer_link.click()
    expect(page).to_have_url(f"{base}start/")
    context.close()


def test_glossary_terms_show_tooltips(published_site, page: Page) -> None:
    base, _ = published_site
    page.goto(base)
    term = page.locator("article abbr", has_text="GPU").first
    expect(term).to_have_attribute(
        "title",
        "Graphics processing unit, the chip that does the heavy maths "
        "of image generation many times faster than a normal processor.",
    )
    term.hover()
    expect(page.locator(".md-tooltip2, .md-tooltip").filter(has_text="Graphics processing unit").first).to_be_visible()


def test_every_lessons_try_values_show_whole_at_1280_px_before_comfyuis_limits(published_site, browser) -> None:
    """Knobs to turn: what to try is the third column and fits the window; ComfyUI's limits are folded away."""
    base, folder = published_site
    slugs = {p.parent.name for p in (Path(__file__).resolve().parents[2] / "workflows").glob("*/module.yaml")}
    lessons = [url for url in site_pages(base, folder) if url.rstrip("/").rsplit("/", 1)[-1] in slugs]
    assert len(lessons) == len(slugs) >= 12
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    for url in lessons:
        page.goto(url)
        table = page.locator("h2#knobs-to-turn ~ .md-typeset__scrollwrap table, h2#knobs-to-turn ~ table").first
        headers = table.locator("thead th").all_inner_texts()
        assert headers == ["Node", "Setting", "Try", "In this workflow", "What it changes"], url
        window = (
            table.locator("xpath=ancestor::div[contains(@class, 'md-typeset__table')][1]").bounding_box()
            or page.locator("article").bounding_box()
        )
        for cell in table.locator("tbody tr td:nth-child(3)").all():
            box = cell.bounding_box()
            assert box and box["width"] > 0 and box["x"] + box["width"] <= window["x"] + window["width"] + 1, url
        limits = page.locator("details", has_text="What ComfyUI accepts for each setting")
        expect(limits).to_have_count(1)
        assert limits.get_attribute("open") is None, f"{url}: the limits should start folded"
    page.close()


def test_every_picture_lessons_knob_strips_show_their_pictures_and_say_what_made_them(published_site, browser) -> None:
    """A loaded picture per Try value, with a caption; test-model ones folded under a title that says so."""
    from atelier.project import find
    from atelier.site import strips

    base, folder = published_site
    project = find(Path(__file__).resolve().parents[2])
    picture_lessons = {m.slug: m for m in project.modules if strips.has_strips(m)}
    lessons = [url for url in site_pages(base, folder) if url.rstrip("/").rsplit("/", 1)[-1] in picture_lessons]
    assert len(lessons) == len(picture_lessons) >= 9
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    for url in lessons:
        module = picture_lessons[url.rstrip("/").rsplit("/", 1)[-1]]
        made = strips.read(project.knob_pictures, module.slug)
        assert made is not None
        page.goto(url)
        test = made.made.models == "test"
        if test:
            expect(page.locator("h3#what-each-knob-does")).to_have_count(0)
            expect(page.locator("h3#each-value-runs")).to_have_count(1)
            folded = page.locator("details", has_text="Test runs: noise from test models, not what you will see")
            expect(folded).to_have_count(1)
            assert folded.get_attribute("open") is None, f"{url}: test-model pictures should start folded"
            folded.locator("summary").click()
        else:
            expect(page.locator("h3#what-each-knob-does")).to_have_count(1)
            expect(
                page.locator(".admonition-title", has_text=f"Made with this lesson's own models on {made.made.device}")
            ).to_have_count(1)
        strips_shown = page.locator(".atelier-strip")
        wanted = [k for k in module.about.knobs if k.tries]
        expect(strips_shown).to_have_count(len(wanted))
        for strip, knob in zip(strips_shown.all(), wanted, strict=True):
            images = strip.locator("img")
            expect(images).to_have_count(len(knob.tries))
            for image in images.all():
                image.scroll_into_view_if_needed()  # the pictures load lazily: in view, and then loaded
                loaded = image.evaluate(
                    "i => i.complete ? i.naturalWidth > 0 : new Promise(done => {"
                    " i.onload = () => done(i.naturalWidth > 0); i.onerror = () => done(false); })"
                )
                assert loaded, f"{url}: {image.get_attribute('src')}"
                link = image.locator("xpath=ancestor::a[1]")
                assert link.get_attribute("download", timeout=1000), f"{url}: the picture is not offered for download"
            captions = [
                c.removeprefix("Test run: " if test else "").rstrip("…")
                for c in strip.locator("figcaption").all_inner_texts()
            ]
            assert captions == [str(t)[: len(c)] for c, t in zip(captions, knob.tries, strict=False)]
    page.close()


def test_every_test_model_picture_is_labelled_on_the_picture_at_phone_width(published_site, browser) -> None:
    """At 390 px, each strip picture shows its TEST MODEL band, readable: as the student's phone draws it."""
    import io

    from PIL import Image

    from atelier.project import find
    from atelier.site import strips

    base, folder = published_site
    project = find(Path(__file__).resolve().parents[2])
    tested = {
        m.slug
        for m in project.modules
        if strips.has_strips(m) and (made := strips.read(project.knob_pictures, m.slug)) and made.made.models == "test"
    }
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    checked = 0
    for url in site_pages(base, folder):
        if url.rstrip("/").rsplit("/", 1)[-1] not in tested:
            continue
        page.goto(url)
        page.locator("details", has_text="Test runs").locator("summary").click()
        for image in page.locator(".atelier-strip img").all():
            image.scroll_into_view_if_needed()
            image.evaluate("i => i.decode()")
            box = image.bounding_box()
            assert box and box["width"] >= 150, f"{url}: a strip picture is {box} wide at 390 px"
            shot = Image.open(io.BytesIO(image.screenshot())).convert("RGB")
            band = shot.crop((0, shot.height - round(shot.height * strips.BAND) + 4, shot.width, shot.height - 4))
            colours = band.getcolors(band.width * band.height) or []
            dark = sum(n for n, (r, g, b) in colours if max(r, g, b) < 40)
            light = sum(n for n, (r, g, b) in colours if min(r, g, b) > 200)
            assert dark > 0.5 * band.width * band.height and light > 100, f"{url}: {image.get_attribute('src')}"
            checked += 1
    assert checked >= sum(len(k.tries) for m in project.modules if m.slug in tested for k in m.about.knobs if k.tries)
    page.close()
