"""atelier compare --class: a course folder of students' work, read as an instructor collects it, left as it was."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from atelier.keep import classwall, compare
from atelier.keep.ledger import LEDGER
from atelier.lessons.modules import all_modules
from atelier.messages import AtelierError

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "outputs" / "txt2img" / "atelier" / "txt2img_00001_.png"
ATELIER = str(Path(sys.executable).parent / "atelier")
FIRST, KNOBS = "txt2img-basics", "seeds-steps-cfg-samplers"  # two lessons: split by seed, and by CFG


def picture(
    path: Path, lesson: str | None, colour: tuple[int, int, int], text: str | None = None, **sampler: Any
) -> Path:
    """A PNG as ComfyUI saves one: the prompt it ran and the workflow, tagged with its lesson."""
    with Image.open(FIXTURE) as made:
        prompt = json.loads(made.info["prompt"])
    prompt["5"]["inputs"].update(sampler)
    if text is not None:
        prompt["2"]["inputs"]["text"] = text  # the positive prompt
    info = PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    info.add_text("workflow", json.dumps({"nodes": [], "extra": {"atelier_module": lesson} if lesson else {}}))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, pnginfo=info)
    return path


def make_course(folder: Path) -> Path:
    """Four students, collected three ways, and one with nothing readable."""
    ana = folder / "ana" / "atelier"  # a group folder on the cluster: ComfyUI's own layout
    picture(ana / "first_00001_.png", FIRST, (200, 40, 40), seed=1)
    picture(ana / "first_00002_.png", FIRST, (200, 80, 40), seed=2)
    picture(ana / "knobs_00001_.png", KNOBS, (200, 40, 80), seed=5, cfg=4.0)
    picture(ana / "knobs_00002_.png", KNOBS, (200, 40, 120), seed=5, cfg=8.0)
    ben = folder / "ben" / "Atelier"  # Box: the whole Atelier folder downloaded and unzipped
    picture(ben / "outputs" / "atelier" / "first_00001_.png", FIRST, (40, 200, 40), seed=2)
    picture(ben / "outputs" / "atelier" / "knobs_00001_.png", KNOBS, (40, 200, 80), seed=5, cfg=8.0)
    picture(ben / "replaced" / "2026-10-01" / "atelier" / "first_00001_.png", FIRST, (0, 0, 0), seed=9)  # older
    (ben / "comfyui" / "workflows").mkdir(parents=True)
    (ben / "comfyui" / "workflows" / "mine.json").write_text("{}")
    made = folder.parent / "cleo's Box"  # outside the course folder: only her zip is in it
    with zipfile.ZipFile(folder / "cleo.zip", "w") as box:  # Box: her outputs folder, as downloaded
        for n, colour in ((1, (40, 40, 200)), (2, (80, 40, 200))):
            name = f"outputs/atelier/first_0000{n}_.png"
            box.write(picture(made / name, FIRST, colour, seed=1), name)
    dara = folder / "dara"
    dara.mkdir()
    Image.new("RGB", (8, 8)).save(dara / "photo.png")  # saved again elsewhere: no settings
    (dara / "notes.txt").write_text("my notes")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def lessons() -> list:
    return all_modules(ROOT / "workflows")


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path / "Painting 101")


def test_wall_groups_by_student_and_by_lesson_knob(course: Path, tmp_path: Path, lessons: list) -> None:
    wall = classwall.wall(course, tmp_path / "wall", lessons=lessons)
    assert [s.name for s in wall.students] == ["ana", "ben", "cleo", "dara"]
    assert [(c.title, compare.label(c.knob) if c.knob else None, c.value) for c in wall.columns] == [
        ("Your first image", "Seed", 1),
        ("Your first image", "Seed", 2),
        ("Seeds, steps, cfg and samplers", "CFG", 4.0),
        ("Seeds, steps, cfg and samplers", "CFG", 8.0),
    ]
    placed = {
        (s.name, n): sorted(i.output.file for i in s.shown if c.holds(i))
        for s in wall.students
        for n, c in enumerate(wall.columns)
    }
    assert placed[("ana", 0)] == ["atelier/first_00001_.png"] and placed[("ana", 1)] == ["atelier/first_00002_.png"]
    assert placed[("ana", 2)] == ["atelier/knobs_00001_.png"] and placed[("ana", 3)] == ["atelier/knobs_00002_.png"]
    assert placed[("ben", 1)] == ["atelier/first_00001_.png"] and placed[("ben", 3)] == ["atelier/knobs_00001_.png"]
    assert placed[("ben", 0)] == placed[("ben", 2)] == []
    assert placed[("cleo", 0)] == ["atelier/first_00001_.png", "atelier/first_00002_.png"]
    # Box's Atelier layout is read from its outputs folder: older versions (replaced/) are not shown as work.
    assert not any("replaced" in str(i.path) for s in wall.students for i in s.items)
    assert all(i.path.is_file() for i in wall.table.items)
    assert [s.name for s in wall.students if s.problem] == ["dara"]
    assert (tmp_path / "wall" / "class-wall.html").is_file()


def test_a_student_with_nothing_readable_is_listed_with_a_plain_warning(
    course: Path, tmp_path: Path, lessons: list
) -> None:
    wall = classwall.wall(course, tmp_path / "wall", lessons=lessons)
    (warning,) = wall.warnings
    assert warning.code == "class-student-empty" and warning.warning
    assert str(warning) == (
        f"dara has nothing to show ({course / 'dara'}): 2 files, none with ComfyUI's settings (1 no settings, "
        "1 not an output). They are listed on the wall with an empty row. Ask them to share their Atelier/outputs "
        "folder again (a picture opened and saved in another program loses its settings)."
    )
    page = (tmp_path / "wall" / "class-wall.html").read_text(encoding="utf-8")
    assert '<th scope="row">D.</th><td class="nothing" colspan="4">Nothing to show: 2 files' in page  # initials


def test_students_folders_are_left_exactly_as_they_were(course: Path, tmp_path: Path, lessons: list) -> None:
    before = snapshot(course)
    out = tmp_path / "wall"
    classwall.wall(course, out, lessons=lessons)
    assert snapshot(course) == before  # no ledger, no thumbnail, no file touched
    assert not list(course.rglob(LEDGER + "*"))
    assert len(list((out / "ledgers").glob("*.sqlite"))) == 4  # kept beside the wall instead
    read: list[str] = []
    classwall.wall(course, out, lessons=lessons, on_scan=lambda output: read.append(output.file))
    assert read == [] and snapshot(course) == before  # the second wall reads nothing again
    handed_in = course.parent / "cleo's Box" / "outputs" / "atelier" / "first_00003_.png"
    picture(handed_in, FIRST, (120, 40, 200), seed=3)
    with zipfile.ZipFile(course / "cleo.zip", "a") as box:  # she handed in more: a new download of her folder
        box.write(handed_in, "outputs/atelier/first_00003_.png")
    wall = classwall.wall(course, out, lessons=lessons, on_scan=lambda output: read.append(output.file))
    assert read == ["atelier/first_00003_.png"]  # her zip is unpacked again, but only the new picture is read
    assert [c.value for c in wall.columns if c.knob == "seed"] == [1, 2, 3]


def test_workbook_and_csv_have_a_student_column(course: Path, tmp_path: Path, lessons: list) -> None:
    classwall.wall(course, tmp_path / "wall", lessons=lessons)
    book = openpyxl.load_workbook(tmp_path / "wall" / "comparison.xlsx")
    sheet = book["Outputs"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["Picture", "Student", "File", "Lesson", "Model"]
    shown = openpyxl.load_workbook(tmp_path / "wall" / "comparison.xlsx", data_only=True)["Outputs"]  # as displayed
    rows = [(r[1].value, r[2].value) for r in shown.iter_rows(min_row=2)]
    assert sorted(rows) == [
        ("A.", "atelier/first_00001_.png"),
        ("A.", "atelier/first_00002_.png"),  # initials
        ("A.", "atelier/knobs_00001_.png"),
        ("A.", "atelier/knobs_00002_.png"),
        ("B.", "atelier/first_00001_.png"),
        ("B.", "atelier/knobs_00001_.png"),
        ("C.", "atelier/first_00001_.png"),
        ("C.", "atelier/first_00002_.png"),
    ]
    assert sheet.freeze_panes == "D2"
    links = {r[1].value: r[2].value for r in sheet.iter_rows(min_row=2)}  # the last of each student's rows
    assert links["A."] == '=HYPERLINK("../Painting%20101/ana/atelier/knobs_00002_.png","atelier/knobs_00002_.png")'
    assert links["C."].startswith('=HYPERLINK("unpacked/cleo/outputs/atelier/first_00002_.png"')  # her zip, unpacked
    assert sorted(image.anchor._from.row for image in sheet._images) == list(range(1, 9))
    skipped = [[c.value for c in r] for r in book["Not compared"].iter_rows(min_row=2)]
    # ben's saved workflows (Atelier/comfyui) are not outputs, so not even listed; dara's files are.
    assert sorted((r[0], Path(r[1]).name, r[2]) for r in skipped) == [
        ("D.", "notes.txt", "not an output"),
        ("D.", "photo.png", "no settings"),
    ]
    with (tmp_path / "wall" / "comparison.csv").open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [r["Student"] for r in table] == [r[0] for r in rows]


def test_the_course_folder_problems_are_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as missing:
        classwall.wall(tmp_path / "nowhere", tmp_path / "wall")
    assert missing.value.code == "class-folder-missing" and missing.value.exit_code == 2
    empty = tmp_path / "empty course"
    empty.mkdir()
    (empty / "readme.txt").write_text("loose files are no students")
    with pytest.raises(AtelierError) as nobody:
        classwall.wall(empty, tmp_path / "wall")
    assert str(nobody.value) == (
        f"{empty} holds no student folders. A class wall needs one folder (or Box zip) per "
        "student inside it, named after the student, such as ana and ben."
    )
    (empty / "dara").mkdir()
    with pytest.raises(AtelierError) as nothing:
        classwall.wall(empty, tmp_path / "wall")
    assert nothing.value.code == "compare-nothing"


def test_cli_makes_the_wall_in_one_command_and_warns_on_stderr(course: Path, tmp_path: Path) -> None:
    out = tmp_path / "wall"
    result = subprocess.run(
        [ATELIER, "compare", "--class", str(course), "--out", str(out)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert f"warning: dara has nothing to show ({course / 'dara'})" in result.stderr
    lines = result.stdout.splitlines()
    assert "Class wall of 4 students (3 with work to show), 8 outputs; not compared: 2." in lines
    assert "Columns: Your first image by Seed; Seeds, steps, cfg and samplers by CFG." in lines
    assert lines[-3:] == [f"Wrote {out / name}" for name in ("comparison.xlsx", "comparison.csv", "class-wall.html")]


def test_cli_refuses_what_a_wall_cannot_do(course: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ATELIER, "compare", *args, "--out", str(tmp_path / "wall")], cwd=ROOT, capture_output=True, text=True
        )

    both = run(str(course / "ana"), "--class", str(course))
    assert both.returncode == 2 and both.stderr.startswith("Error: Give atelier compare either outputs")
    neither = run()
    assert neither.returncode == 2 and neither.stderr == both.stderr
    down = run("--class", str(course), "--vs", "seed")
    assert down.returncode == 2 and down.stderr.startswith("Error: With --class, the rows are the students")
    gone = run("--class", str(tmp_path / "nowhere"))
    assert gone.returncode == 2 and gone.stderr.startswith(f"Error: There is no course folder {tmp_path / 'nowhere'}.")
    assert not any("Traceback" in r.stderr for r in (both, neither, down, gone))


def test_by_names_the_knob_that_splits_each_lesson(course: Path, tmp_path: Path, lessons: list) -> None:
    wall = classwall.wall(course, tmp_path / "wall", by="seed", lessons=lessons)
    splits = {c.title: compare.label(c.knob) if c.knob else None for c in wall.columns}
    # seed differs in the first lesson; in the second every picture has seed 5, so it keeps its own knob.
    assert splits == {"Your first image": "Seed", "Seeds, steps, cfg and samplers": "CFG"}
    with pytest.raises(AtelierError) as unknown:
        classwall.wall(course, tmp_path / "wall", by="denoyse", lessons=lessons)
    assert unknown.value.code == "compare-knob-unknown"


def test_a_broken_zip_is_a_warning_not_a_failure(course: Path, tmp_path: Path, lessons: list) -> None:
    (course / "eve.zip").write_bytes(b"PK\x03\x04 cut short")  # a download that stopped
    wall = classwall.wall(course, tmp_path / "wall", lessons=lessons)
    assert [s.name for s in wall.students] == ["ana", "ben", "cleo", "dara", "eve"]
    assert str(wall.warnings[-1]).startswith(
        f"eve has nothing to show ({course / 'eve.zip'}): the zip cannot be "
        "unpacked (BadZipFile: a download cut short, perhaps)."
    )


def test_a_lesson_is_split_by_the_knob_students_share_not_by_their_own_prompts(tmp_path: Path, lessons: list) -> None:
    """Your first image lists the prompt first, but each student writes their own: columns by seed line up."""
    course = tmp_path / "course"
    for who, words in (("ana", "pears"), ("ben", "a harbour")):
        for seed in (42, 7):
            picture(
                course / who / "atelier" / f"{seed}.png", FIRST, (seed * 5, 90, 90), text=f"{words}, {seed}", seed=seed
            )
    wall = classwall.wall(course, tmp_path / "wall", lessons=lessons)
    assert [(compare.label(c.knob), c.value) for c in wall.columns] == [("Seed", 7), ("Seed", 42)]
    assert classwall.wall(course, tmp_path / "wall", by="positive", lessons=lessons).columns[0].knob == "positive"
