"""The Compare page's own logic, without ComfyUI: what is listed, what may be served or compared, and
which POSTs are the page's. tests/comfyui/test_compare_page.py drives the page itself in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from atelier.cli import main
from atelier.comfy.extensions import atelier_compare as page
from atelier.comfy.extensions.atelier_compare.pages import when
from atelier.comfy.server import ComfyServer
from atelier.keep.compare import confine
from atelier.messages import AtelierError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"


@pytest.fixture()
def outputs(tmp_path: Path) -> Path:
    """An outputs folder as a session leaves it, and a picture beside it that is not the student's to compare."""
    folder = tmp_path / "atelier-outputs"
    shutil.copytree(FIXTURES / "txt2img", folder)
    pictures = sorted((folder / "atelier").glob("*.png"))
    for age, picture in enumerate(reversed(pictures)):  # txt2img_00004_ is the newest
        os.utime(picture, (1_700_000_000 - age * 60,) * 2)
    shutil.copy(pictures[0], tmp_path / "secret.png")
    (folder / "notes.txt").write_text("not an output")
    (folder / ".hidden.png").write_bytes(pictures[0].read_bytes())
    (folder / "atelier-ledger.sqlite").write_bytes(b"")
    made = folder / "comparisons" / "2026-11-20_14-30-05"
    (made / "thumbs").mkdir(parents=True)
    (made / "thumbs" / "a1.jpg").write_bytes(b"jpeg")
    (made / "contact-sheet.html").write_text("<!doctype html>")
    (made / "comparison.xlsx").write_bytes(b"PK")
    (folder / "elsewhere.png").symlink_to(tmp_path / "secret.png")  # a link that leads out
    (folder / "atelier" / "again.png").symlink_to(pictures[0])  # one that stays inside
    (folder / "stray.html").write_text("<script>alert(1)</script>")
    return folder


# ---- what the page lists, and "the last N" ----------------------------------------------------


def test_the_list_is_every_output_newest_first_without_links_hidden_files_or_comparisons(outputs: Path) -> None:
    names = [found.name for found in page.outputs(outputs)]
    assert names == [f"atelier/txt2img_0000{n}_.png" for n in (4, 3, 2, 1)]


def test_the_newest_n_are_the_last_made_in_the_order_they_were_made(outputs: Path) -> None:
    found = page.outputs(outputs)
    assert page.newest(found, 2) == ["atelier/txt2img_00003_.png", "atelier/txt2img_00004_.png"]
    assert page.newest(found, 99) == [f"atelier/txt2img_0000{n}_.png" for n in (1, 2, 3, 4)]
    assert page.newest(found, 0) == [] and page.newest([], 3) == []
    assert [page.count_of(v) for v in ("3", " 12 ", "", "two", "-4", None)] == [3, 12, 0, 0, 0, 0]


def test_an_empty_or_missing_folder_lists_nothing(tmp_path: Path) -> None:
    assert page.outputs(tmp_path) == [] and page.outputs(tmp_path / "nope") == []


# ---- what may be served -------------------------------------------------------------------------


def test_outputs_and_what_a_comparison_wrote_are_served(outputs: Path) -> None:
    assert page.served(outputs, "atelier/txt2img_00001_.png") == (outputs / "atelier" / "txt2img_00001_.png").resolve()
    assert page.served(outputs, "atelier/again.png") == (outputs / "atelier" / "txt2img_00001_.png").resolve()
    for name in (
        "comparisons/2026-11-20_14-30-05/contact-sheet.html",
        "comparisons/2026-11-20_14-30-05/comparison.xlsx",
        "comparisons/2026-11-20_14-30-05/thumbs/a1.jpg",
    ):
        assert page.served(outputs, name) == (outputs / name).resolve(), name


@pytest.mark.parametrize(
    "name",
    [
        "../secret.png",
        "atelier/../../secret.png",
        "/etc/passwd",
        "elsewhere.png",
        ".hidden.png",
        "./atelier/x.png",
        "atelier//../txt2img_00001_.png",
        "notes.txt",
        "stray.html",
        "atelier-ledger.sqlite",
        "atelier\\txt2img_00001_.png",
        "atelier/missing.png",
        "",
        "atelier/txt2img_00001_.png\x00.html",
        "comparisons/../stray.html",
    ],
)
def test_nothing_outside_the_folder_nor_of_another_kind_is_served(outputs: Path, name: str) -> None:
    assert page.served(outputs, name) is None


def test_a_file_with_a_compressed_twin_is_not_served(outputs: Path) -> None:
    """aiohttp would send `x.png.gz` in its place, without this check."""
    (outputs / "atelier" / "txt2img_00002_.png.gz").write_bytes(b"")
    assert page.served(outputs, "atelier/txt2img_00002_.png") is None


# ---- what may be compared (atelier's side: atelier compare --within) ---------------------------


def test_confine_keeps_what_is_inside_and_refuses_what_leads_out(
    outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(outputs)  # the page runs atelier compare in the outputs folder
    inside = [Path("atelier/txt2img_00001_.png"), Path("atelier/again.png"), outputs / "atelier"]
    assert confine(inside, outputs) == inside
    for outside in (
        Path("../secret.png"),
        Path("elsewhere.png"),
        outputs.parent / "secret.png",
        Path("/etc/passwd"),
        Path("atelier/../../secret.png"),
    ):
        with pytest.raises(AtelierError) as refused:
            confine([Path("atelier/txt2img_00001_.png"), outside], outputs)
        assert refused.value.code == "compare-outside" and refused.value.values["path"] == outside
    with pytest.raises(AtelierError) as nothing:
        confine([], outputs)
    assert nothing.value.code == "compare-none-picked"


def test_the_command_refuses_a_path_outside_within_and_writes_nothing(
    outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(outputs)
    out = outputs / "comparisons" / "new"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "compare",
                "--within",
                str(outputs),
                "--out",
                str(out),
                "--",
                "atelier/txt2img_00001_.png",
                "../secret.png",
            ]
        )
    assert done.value.code == 2 and not out.exists()
    assert capsys.readouterr().err.strip() == "Error: " + str(
        AtelierError("compare-outside", path="../secret.png", folder=outputs)
    )
    with pytest.raises(SystemExit) as none:
        main(["compare", "--within", str(outputs), "--out", str(out)])
    assert none.value.code == 2 and "No outputs were picked" in capsys.readouterr().err


# ---- which POSTs are the page's own --------------------------------------------------------------


KEY = "k" * 43


@pytest.mark.parametrize(
    ("headers", "sent", "allowed"),
    [
        ({"Host": "127.0.0.1:8188"}, KEY, True),  # behind the proxy: the gate took the same-origin Origin away
        ({"Host": "127.0.0.1:8188", "Origin": "http://127.0.0.1:8188", "Sec-Fetch-Site": "same-origin"}, KEY, True),
        ({"Host": "127.0.0.1:8188"}, "", False),  # no key
        ({"Host": "127.0.0.1:8188"}, KEY[:-1] + "x", False),
        ({"Host": "127.0.0.1:8188", "Sec-Fetch-Site": "same-site"}, KEY, False),  # another host of the university
        ({"Host": "127.0.0.1:8188", "Sec-Fetch-Site": "cross-site"}, KEY, False),
        ({"Host": "gpu042:8188", "Origin": "https://people.example.edu"}, KEY, False),  # an Origin the gate left
        ({"Host": "127.0.0.1:8188", "Origin": "null"}, KEY, False),
    ],
)
def test_a_post_must_carry_the_pages_key_and_come_from_the_page(headers: dict, sent: str, allowed: bool) -> None:
    assert page.from_this_page(headers, KEY, sent) is allowed


def test_no_key_at_all_lets_nothing_through() -> None:
    assert page.from_this_page({"Host": "h"}, "", "") is False


# ---- what the page says, and where its links lead ---------------------------------------------------


def test_atelier_s_own_message_is_shown_and_nothing_else() -> None:
    stderr = "Reading outputs\nError: No outputs were picked, so there is nothing to compare. Tick them.\n"
    assert page.said(stderr, "fallback") == "No outputs were picked, so there is nothing to compare. Tick them."
    assert page.said("Traceback (most recent call last):\n  KeyError: 'x'\n", "fallback") == "fallback"


def test_two_comparisons_in_one_second_get_folders_of_their_own(tmp_path: Path) -> None:
    now = 1_764_000_000.0
    first = page.new_folder(tmp_path, now)
    assert page.STAMP.match(first.name)
    first.mkdir()
    second = page.new_folder(tmp_path, now)
    assert second.name == first.name + "-2" and page.STAMP.match(second.name)
    assert when("2026-11-20_14-30-05") == "2026-11-20 at 14:30:05"
    assert when("2026-11-20_14-30-05-2") == "2026-11-20 at 14:30:05 (2)"


def test_earlier_comparisons_are_those_with_a_contact_sheet_newest_first(outputs: Path) -> None:
    (outputs / "comparisons" / "2026-11-21_09-00-00" / "thumbs").mkdir(parents=True)  # a failed one: no sheet
    later = outputs / "comparisons" / "2026-11-22_09-00-00"
    later.mkdir()
    (later / "contact-sheet.html").write_text("")
    (outputs / "comparisons" / "mine").mkdir()  # a folder of the student's own
    assert page.made_before(outputs) == ["2026-11-22_09-00-00", "2026-11-20_14-30-05"]


LINK = re.compile(r"""(?:href|src|action)="([^"]*)\"""")


def test_every_link_and_form_is_relative_for_the_dashboards_proxy(outputs: Path) -> None:
    """Open OnDemand serves the session under /rnode/<host>/<port>/: a link starting with "/" leaves it."""
    found = page.outputs(outputs) + [page.Found("clips/a b&c.mp4", 0)]
    shown = page.pick_page(
        found,
        KEY,
        page.made_before(outputs),
        problem="<b>No outputs</b> were picked.",
        picked={"atelier/txt2img_00002_.png"},
        by='cfg" onclick="x',
        vs="seed",
    )
    made = page.made_page("2026-11-20_14-30-05")
    for html in (shown, made):
        links = LINK.findall(html)
        assert links and all(not link.startswith("/") and "://" not in link for link in links), links
    assert f'name="key" value="{KEY}"' in shown
    assert '<p class="problem" role="alert">&lt;b&gt;No outputs&lt;/b&gt; were picked.</p>' in shown
    assert 'value="atelier/txt2img_00002_.png" checked' in shown and 'value="cfg&quot; onclick=&quot;x"' in shown
    assert 'src="compare/thumb/atelier/txt2img_00004_.png"' in shown and "clips/a%20b%26c.mp4" not in shown
    assert 'href="compare/made/2026-11-20_14-30-05"' in shown
    assert 'href="../files/comparisons/2026-11-20_14-30-05/comparison.xlsx" download' in made
    assert 'href="../../compare"' in made


def test_the_labels_the_start_here_page_names_are_on_the_pages(outputs: Path) -> None:
    from tests.walkthrough import bold, steps

    shown = page.pick_page(page.outputs(outputs), KEY, []) + page.made_page("2026-11-20_14-30-05")
    labels = [label for step in steps("compare.md", "Make a comparison") for label in bold(step)]
    assert labels[:2] == ["ComfyUI logo", "Compare outputs"]  # ComfyUI's menu: tests/comfyui holds it to the menu
    for label in labels[2:]:
        assert f">{label}<" in shown, label


def test_an_empty_folder_offers_nothing_to_press(tmp_path: Path) -> None:
    shown = page.pick_page([], KEY, [])
    assert "has no pictures, videos or sounds yet" in shown and "<form" not in shown


# ---- how ComfyUI is told ----------------------------------------------------------------------------


def test_serve_hands_the_page_atelier_s_python_the_outputs_and_the_message_for_silence(tmp_path: Path) -> None:
    server = ComfyServer(tmp_path, Path("python3"), tmp_path / "session", outputs=tmp_path / "out")
    env = server.compare_env()
    assert env["ATELIER_PYTHON"] == sys.executable and env["ATELIER_OUTPUTS"] == str((tmp_path / "out").resolve())
    assert env["ATELIER_COMPARE_FAILED"] == str(AtelierError("compare-failed"))
    assert page.FALLBACK.startswith(AtelierError("compare-failed").text)


def test_the_extension_installs_nothing_outside_comfyui() -> None:
    assert "server" not in sys.modules or not hasattr(sys.modules["server"], "PromptServer")
    assert page.NODE_CLASS_MAPPINGS == {} and page.WEB_DIRECTORY == "web"
    script = (Path(page.__file__).parent / "web" / "compare.js").read_text(encoding="utf-8")
    assert 'api.fileURL("/atelier/compare")' in script and "menuCommands" in script


# ---- the routes, on aiohttp (ComfyUI's web server) without ComfyUI: a stand-in for atelier ----------

FAKE_ATELIER = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_ARGS"
while [ "$1" != "--out" ]; do shift; done
sleep "${FAKE_SECONDS:-0}"
if [ -n "$FAKE_ERROR" ]; then echo "Reading outputs" >&2; echo "Error: $FAKE_ERROR" >&2; exit 2; fi
mkdir -p "$2/thumbs" && echo '<!doctype html><title>sheet</title>' > "$2/contact-sheet.html"
"""


def _serve(outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: float, **fake: str):
    """The page's routes in an aiohttp app, with a shell script in atelier's place that records its arguments."""
    from aiohttp import web

    script = tmp_path / "fake-python"
    script.write_text(FAKE_ATELIER)
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_ARGS", str(tmp_path / "args"))
    for name, value in fake.items():
        monkeypatch.setenv(f"FAKE_{name.upper()}", value)
    compare = page.ComparePage(outputs, str(script), "Nothing was said.", tmp_path / "thumbs")
    compare.wait = wait
    routes = web.RouteTableDef()
    page.add_routes(routes, compare)
    app = web.Application()
    app.add_routes(routes)
    return app


def _run(scenario) -> None:
    """asyncio.run in a thread of its own: Playwright's sync API, when a browser test ran before in this
    process, leaves an event loop running in this one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, scenario()).result()


async def _key(client) -> str:
    answer = await client.get(page.PAGE)
    assert answer.status == 200 and answer.headers["Content-Security-Policy"] == page.PAGE_CSP
    return re.search(r'name="key" value="([^"]+)"', await answer.text()).group(1)


def test_a_long_comparison_goes_on_behind_a_page_that_asks_again(
    outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy gives up on a request after a minute or so: past WAIT, the POST answers and the browser waits
    on a page with a progress bar that refreshes itself until the comparison is there."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    app = _serve(outputs, tmp_path, monkeypatch, wait=0.1, seconds="1")

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            key = await _key(client)
            form = [
                ("key", key),
                ("pick", "ticked"),
                ("file", "atelier/txt2img_00001_.png"),
                ("file", "-rf"),
                ("by", "  cfg "),
                ("vs", ""),
            ]
            answer = await client.post(page.PAGE, data=form, allow_redirects=False)
            assert answer.status == 303
            # An absolute path: OOD's proxy prefixes it, and mangles a relative one that holds a "/".
            stamp = re.fullmatch(r"/atelier/compare/made/(.+)", answer.headers["Location"]).group(1)
            waiting = await client.get(f"/atelier/compare/made/{stamp}")
            text = await waiting.text()
            assert '<meta http-equiv="refresh" content="2">' in text and "<progress" in text and "1 output " in text
            for _ in range(100):
                await asyncio.sleep(0.1)
                ready = await client.get(f"/atelier/compare/made/{stamp}")
                if "Your comparison is ready" in await ready.text():
                    break
            assert "Your comparison is ready" in await ready.text()
            sheet = await client.get(f"/atelier/compare/files/comparisons/{stamp}/contact-sheet.html")
            assert sheet.status == 200 and sheet.headers["Content-Type"] == "text/html; charset=utf-8"
            assert sheet.headers["Content-Security-Policy"] == page.FILE_CSP

    _run(scenario)
    args = (tmp_path / "args").read_text().splitlines()
    # the names after "--", so a file called -rf is never an option; the outputs folder as --within
    assert args[:4] == ["-m", "atelier", "compare", "--within"] and args[4] == str(outputs)
    assert args[args.index("--") + 1 :] == ["atelier/txt2img_00001_.png"]  # -rf is not there: left out
    assert "--by=cfg" in args and not any(a.startswith("--vs") for a in args)


def test_a_problem_is_said_on_the_page_with_the_choices_kept(
    outputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    app = _serve(outputs, tmp_path, monkeypatch, wait=30, error="No setting called 'denoyse' is in these outputs.")

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            key = await _key(client)
            form = [("key", key), ("pick", "ticked"), ("file", "atelier/txt2img_00002_.png"), ("by", "denoyse")]
            answer = await client.post(page.PAGE, data=form, allow_redirects=False)
            text = await answer.text()
            assert answer.status == 400
            assert "No setting called &#x27;denoyse&#x27; is in these outputs." in text
            assert 'value="atelier/txt2img_00002_.png" checked' in text and 'value="denoyse"' in text
            assert not (outputs / "comparisons").exists() or page.made_before(outputs) == ["2026-11-20_14-30-05"]
            assert (await client.post(page.PAGE, data=[("key", "wrong"), *form[1:]])).status == 403
            thumb = await client.get("/atelier/compare/thumb/atelier/txt2img_00001_.png")
            assert thumb.status == 200 and thumb.headers["Content-Type"] == "image/jpeg"
            assert (await client.get("/atelier/compare/thumb/notes.txt")).status == 404
            workbook = await client.get("/atelier/compare/files/comparisons/2026-11-20_14-30-05/comparison.xlsx")
            assert workbook.headers["Content-Disposition"] == "attachment; filename*=UTF-8''comparison.xlsx"
            gone = await client.get("/atelier/compare/made/2026-01-01_00-00-00")
            assert gone.status == 404
            slash = await client.get("/atelier/compare/", allow_redirects=False)
            assert slash.status == 303 and slash.headers["Location"] == "/atelier/compare"

    _run(scenario)


def test_when_atelier_cannot_run_the_catalogue_s_sentence_is_shown(outputs: Path, tmp_path: Path) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    said_by_serve = str(AtelierError("compare-failed"))
    compare = page.ComparePage(outputs, str(tmp_path / "no-such-python"), said_by_serve, tmp_path / "thumbs")
    routes = web.RouteTableDef()
    page.add_routes(routes, compare)
    app = web.Application()
    app.add_routes(routes)

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            key = await _key(client)
            answer = await client.post(page.PAGE, data=[("key", key), ("pick", "newest"), ("count", "2")])
            assert answer.status == 500
            assert html_escape(said_by_serve) in await answer.text()

    _run(scenario)


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_the_ledger_leaves_out_what_the_page_wrote_under_the_same_folder_name(tmp_path: Path) -> None:
    """The page (standalone, in ComfyUI's Python) and the ledger name comparisons/ once each: they must agree,
    or `atelier compare ~/atelier-outputs` would list old contact sheets as outputs."""
    from atelier.comfy.extensions import atelier_compare
    from atelier.keep import ledger

    assert atelier_compare.COMPARISONS == ledger.COMPARISONS
    (tmp_path / "comparisons" / "2026-12-02 10.00.00" / "thumbs").mkdir(parents=True)
    (tmp_path / "comparisons" / "2026-12-02 10.00.00" / "thumbs" / "a.jpg").write_bytes(b"x")
    (tmp_path / "atelier").mkdir()
    (tmp_path / "atelier" / "comparisons").mkdir()
    (tmp_path / "atelier" / "comparisons" / "kept.png").write_bytes(b"x")  # a student's own folder of that name, deeper
    assert [name for name, _ in ledger.walk(tmp_path)] == ["atelier/comparisons/kept.png"]
