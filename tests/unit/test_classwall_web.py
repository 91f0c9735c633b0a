"""The dashboard's Class wall app and the wall's privacy: what deploy writes, the names a wall shows, the pages.

Chromium drives the same pages under Passenger in tests/site/test_classwall_app.py.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlencode
from wsgiref.util import setup_testing_defaults

import pytest

from atelier.hpc import ood
from atelier.hpc.profiles import load_profile
from atelier.keep import classwall
from atelier.lessons.modules import all_modules
from atelier.web.classwall import ClassWallApp, Site, load_site
from tests.unit.test_compare_class import ATELIER, ROOT, make_course

OOD_URL = "https://ondemand.example.edu"
BASE = "/pun/sys/classwall"


def test_a_student_is_named_by_initials_unless_they_agreed() -> None:
    assert [
        classwall.initials(n)
        for n in ("ana", "Ana Lopez", "ana_lopez", "AnaLopez", "o'brien", "jsmith42", "Élodie Brun", "2024")
    ] == ["A.", "A.L.", "A.L.", "A.L.", "O.", "J.", "É.B.", "Student"]
    assert classwall.shown_names(["ana", "alex", "ben", "cleo"], {"ben"}) == {
        "ana": "A. (1)",
        "alex": "A. (2)",
        "ben": "ben",
        "cleo": "C.",
    }  # shared initials stay apart
    assert classwall.shown_names(["ana", "ben"], set(), "full") == {"ana": "ana", "ben": "ben"}


def test_the_wall_shows_initials_and_the_names_listed_in_show_names(tmp_path: Path) -> None:
    course = make_course(tmp_path / "Painting 101")
    wall = classwall.wall(course, tmp_path / "wall")
    page = (tmp_path / "wall" / classwall.WALL).read_text(encoding="utf-8")
    assert re.findall(r'<th scope="row">([^<]*)</th>', page) == ["A.", "B.", "C.", "D."]
    assert [s.shown_as for s in wall.students] == ["A.", "B.", "C.", "D."]
    assert "<li>D.: photo.png: no settings" in page  # not the path, which holds dara's folder name
    assert not re.search(r">[^<]*\b(ana|ben|cleo|dara)\b[^<]*<", page)  # no name in any text shown
    (course / classwall.SHOW_NAMES).write_text("# agreed in week 1\nben\ncleo.zip  # her Box zip\n")
    classwall.wall(course, tmp_path / "wall")
    page = (tmp_path / "wall" / classwall.WALL).read_text(encoding="utf-8")
    assert re.findall(r'<th scope="row">([^<]*)</th>', page) == ["A.", "ben", "cleo", "D."]


def test_compare_class_names_everyone_only_when_asked(tmp_path: Path) -> None:
    course = make_course(tmp_path / "Painting 101")
    for how, rows in (([], ["A.", "B.", "C.", "D."]), (["--names", "full"], ["ana", "ben", "cleo", "dara"])):
        done = subprocess.run(
            [ATELIER, "compare", "--class", str(course), "--out", str(tmp_path / "wall"), *how],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        page = (tmp_path / "wall" / classwall.WALL).read_text(encoding="utf-8")
        assert re.findall(r'<th scope="row">([^<]*)</th>', page) == rows


def test_deploy_ships_the_class_wall_app_with_the_lessons(tmp_path: Path) -> None:
    profiles = [dataclasses.replace(load_profile("pegasus"), ondemand_url=OOD_URL + "/")]
    modules = all_modules(ROOT / "workflows")
    app, site_file = ood.deploy_classwall(
        tmp_path / "apps" / "classwall",
        tmp_path / "config" / "atelier.json",
        profiles,
        modules,
        ("$HOME", "/groups/courses"),
        app=ROOT / ood.CLASSWALL_APP,
    )
    assert sorted(p.name for p in app.iterdir()) == ["manifest.yml", "passenger_wsgi.py", "workflows"]
    assert sorted(p.name for p in (app / "workflows").iterdir()) == sorted(m.slug for m in modules)
    written = json.loads(site_file.read_text())
    assert written["base"] == BASE and written["origin"] == OOD_URL
    assert written["course_roots"] == ["$HOME", "/groups/courses"]
    assert written["python"] == str(ood.app_python(profiles))
    assert stat.S_IMODE(site_file.stat().st_mode) == 0o644  # every instructor's own nginx reads it
    site = load_site(site_file)
    assert site.workflows == app.resolve() / "workflows" and site.walls == "$HOME/atelier-class-walls"


def call(
    app: ClassWallApp, path: str, method: str = "GET", form: dict[str, str] | None = None, **headers: str
) -> tuple[str, dict[str, str], bytes]:
    """One request as Open OnDemand's Passenger hands it over: the app's path in SCRIPT_NAME."""
    data = urlencode(form or {}).encode()
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": BASE,
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(data),
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.errors": io.StringIO(),
        **headers,
    }
    setup_testing_defaults(environ)
    answered: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response))
    return str(answered["status"]), answered["headers"], body  # type: ignore[return-value]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ClassWallApp:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    make_course(home / "Painting 101")
    (home / "Documents").mkdir()  # holds no student folder: not offered
    return ClassWallApp(Site(BASE, ("$HOME",), "$HOME/atelier-class-walls", ROOT / "workflows", OOD_URL))


def test_the_first_page_offers_the_course_folders_found(app: ClassWallApp, tmp_path: Path) -> None:
    status, headers, body = call(app, "/")
    page = body.decode()
    assert status == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.count("<h1>") == 1 and "<h1>Class wall</h1>" in page
    offered = re.findall(r'type="radio" name="course" value="([^"]*)"', page)
    assert str(tmp_path / "home" / "Painting 101") in offered and str(tmp_path / "home" / "Documents") not in offered
    assert "> ~/Painting 101</label>" in page and '<button type="submit">Build the class wall</button>' in page
    assert "Course folders open from your home folder." in page
    assert "<script" not in page and "default-src 'none'" in headers["Content-Security-Policy"]


def test_build_writes_the_wall_in_the_instructors_home_and_serves_it(app: ClassWallApp, tmp_path: Path) -> None:
    course = tmp_path / "home" / "Painting 101"
    status, headers, _ = call(app, "/build", "POST", {"course": str(course)}, HTTP_ORIGIN=OOD_URL)
    assert status == "303 See Other"
    (out,) = (tmp_path / "home" / "atelier-class-walls").iterdir()
    first = headers["Location"]
    assert first == f"{BASE}/files{quote(str(out / classwall.WALL))}"
    status, headers, body = call(app, f"/files{out / classwall.WALL}")
    assert status == "200 OK" and "<title>Class wall: Painting 101</title>" in body.decode()
    links = re.findall(r'(?:src|href)="([^"]+)"', body.decode())
    for link in links:  # every picture and full-size link, resolved as the browser resolves it against the page
        target = Path(out, unquote(link)).resolve()
        status, headers, _ = call(app, f"/files{target}")
        assert status == "200 OK" and headers["Content-Type"].startswith(("image/", "audio/", "video/")), link
    assert call(app, "/")[2].decode().count("Walls you built") == 1
    typed = call(app, "/build", "POST", {"course": "", "typed": "~/Painting 101"})  # typed: the same wall again
    assert typed[0] == "303 See Other" and typed[1]["Location"] == first


def test_a_folder_outside_home_or_not_given_is_refused_plainly(app: ClassWallApp, tmp_path: Path) -> None:
    status, _, body = call(app, "/build", "POST", {"typed": "/etc"})
    assert status == "400 Bad Request"
    assert "The folder /etc is not in your home folder, where the Class wall app opens course folders." in body.decode()
    status, _, body = call(app, "/build", "POST", {"typed": "~/../../etc"})
    assert "is not in your home folder" in body.decode()
    status, _, body = call(app, "/build", "POST", {})
    assert status == "400 Bad Request" and "No course folder was given" in body.decode()
    status, _, body = call(app, "/build", "POST", {"typed": "~/Documents"})
    assert f"{tmp_path / 'home' / 'Documents'} holds no student folders." in body.decode()
    status, _, body = call(app, "/build", "POST", {"typed": "nowhere"})
    assert f"There is no course folder {tmp_path / 'home' / 'nowhere'}." in body.decode()
    assert not any(b"Traceback" in call(app, "/build", "POST", {"typed": t})[2] for t in ("/etc", "nowhere"))


def test_only_the_walls_files_and_its_courses_pictures_are_served(app: ClassWallApp, tmp_path: Path) -> None:
    course = tmp_path / "home" / "Painting 101"
    call(app, "/build", "POST", {"course": str(course)})
    (out,) = (tmp_path / "home" / "atelier-class-walls").iterdir()
    (course / "ana" / "atelier" / "leak.png").symlink_to("/etc/passwd")
    refused = [
        f"{out}/../../../../../../etc/passwd",
        "/etc/passwd",
        f"{course}/ana/atelier/leak.png",
        f"{course}/dara/notes.txt",
        f"{out}/ledgers",
        f"{out}/.course-folder",
        f"{next((out / 'ledgers').iterdir())}",
        f"{tmp_path / 'home' / 'Documents'}",
    ]
    for path in refused:
        status, _, body = call(app, f"/files{path}")
        assert status == "403 Forbidden", path
        assert "The Class wall app shows only the files of a wall you built" in body.decode() and b"root:" not in body
    assert call(app, f"/files{course}/ana/atelier/first_00001_.png")[0] == "200 OK"
    assert call(app, f"/files{out}/{classwall.WORKBOOK}")[1]["Content-Disposition"].startswith("attachment")


def test_an_unknown_page_and_a_press_from_elsewhere_are_refused(app: ClassWallApp) -> None:
    status, _, body = call(app, "/admin")
    assert status == "404 Not Found" and f"The Class wall app has no page at {BASE}/admin." in body.decode()
    status, _, body = call(app, "/build", "POST", {"typed": "~/Painting 101"}, HTTP_ORIGIN="https://evil.example")
    assert status == "403 Forbidden" and "That button was pressed on another website" in body.decode()


def test_a_path_passenger_hands_over_still_encoded_is_read_once(app: ClassWallApp, tmp_path: Path) -> None:
    course = tmp_path / "home" / "Painting 101"
    call(app, "/build", "POST", {"course": str(course)})
    (out,) = (tmp_path / "home" / "atelier-class-walls").iterdir()
    raw = f"{BASE}/files{quote(str(out / classwall.WALL))}"
    status, _, body = call(app, "/ignored", REQUEST_URI=raw)  # Passenger: PATH_INFO as sent, with %20 in it
    assert status == "200 OK" and b"<title>Class wall: Painting 101</title>" in body
