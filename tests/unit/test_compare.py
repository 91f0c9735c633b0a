"""atelier compare on committed ComfyUI outputs: the workbook reopened as a spreadsheet would, the CSV."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from PIL import Image

from atelier.keep.compare import compare
from atelier.messages import AtelierError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
ATELIER = str(Path(sys.executable).parent / "atelier")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(FIXTURES / "txt2img", tmp_path / "outputs"))
    shutil.copytree(FIXTURES / "broken", folder / "broken")
    return folder


def test_workbook_has_a_row_a_thumbnail_and_highlighted_differences(outputs: Path, tmp_path: Path) -> None:
    compare([outputs], tmp_path / "cmp")
    book = openpyxl.load_workbook(tmp_path / "cmp" / "comparison.xlsx")
    assert book.sheetnames == ["Outputs", "Same in all", "Not compared"]
    sheet = book["Outputs"]
    header = [c.value for c in sheet[1]]
    assert header == [
        "Picture",
        "File",
        "Lesson",
        "Model",
        "Seed",
        "Steps",
        "CFG",
        "Sampler",
        "Scheduler",
        "Size",
        "Positive prompt",
        "Negative prompt",
    ]
    shown = openpyxl.load_workbook(tmp_path / "cmp" / "comparison.xlsx", data_only=True)["Outputs"]  # as displayed
    rows = [[c.value for c in row] for row in shown.iter_rows(min_row=2)]
    assert [(r[1], r[4], r[6]) for r in rows] == [
        ("atelier/txt2img_00001_.png", 1, 4),
        ("atelier/txt2img_00002_.png", 1, 8),
        ("atelier/txt2img_00003_.png", 2, 4),
        ("atelier/txt2img_00004_.png", 2, 8),
    ]
    assert {r[2] for r in rows} == {"txt2img-basics"} and {r[9] for r in rows} == {"64×64"}
    yellow = {col: sheet.cell(1, col).fill.fgColor.rgb for col in range(1, len(header) + 1)}
    highlighted = [header[col - 1] for col, rgb in yellow.items() if rgb and rgb.endswith("FFD966")]
    assert highlighted == ["Seed", "CFG"]
    assert sheet.cell(2, 5).fill.fgColor.rgb.endswith("FFF2CC") and not sheet.cell(2, 4).fill.fgColor.rgb.endswith(
        "FFF2CC"
    )
    images = sheet._images
    assert sorted(image.anchor._from.row for image in images) == [1, 2, 3, 4]  # zero-based: rows 2-5
    assert all(image.anchor._from.col == 0 for image in images)
    assert sheet.cell(2, 2).value == '=HYPERLINK("../outputs/atelier/txt2img_00001_.png","atelier/txt2img_00001_.png")'
    assert sheet.freeze_panes == "C2"
    same = {row[0].value: row[1].value for row in book["Same in all"].iter_rows(min_row=2)}
    assert same["Model"] == "v1-5-pruned-emaonly.safetensors" and same["Steps"] == 2
    assert same["Image size.width"] == 64 and "Seed" not in same
    skipped = {row[0].value.split("/")[-1]: row[1].value for row in book["Not compared"].iter_rows(min_row=2)}
    assert skipped == {
        "cut-short.png": "truncated",
        "junk.mp4": "unreadable",
        "notes.txt": "not an output",
        "photo.jpg": "no settings",
    }


def test_thumbnails_are_small_pictures_of_the_outputs(outputs: Path, tmp_path: Path) -> None:
    table, _, _ = compare([outputs], tmp_path / "cmp")
    for item in table.items:
        with Image.open(item.thumb) as thumb, Image.open(item.path) as full:
            assert thumb.format == "JPEG" and thumb.size == full.size  # 64 px originals are not enlarged
            assert thumb.convert("RGB").resize((8, 8)).getpixel((4, 4)) == pytest.approx(
                full.convert("RGB").resize((8, 8)).getpixel((4, 4)), abs=24
            )


def test_csv_holds_the_same_table(outputs: Path, tmp_path: Path) -> None:
    compare([outputs], tmp_path / "cmp")
    with (tmp_path / "cmp" / "comparison.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["File"], r["Seed"], r["CFG"]) for r in rows] == [
        ("atelier/txt2img_00001_.png", "1", "4.0"),
        ("atelier/txt2img_00002_.png", "1", "8.0"),
        ("atelier/txt2img_00003_.png", "2", "4.0"),
        ("atelier/txt2img_00004_.png", "2", "8.0"),
    ]


def test_axes_default_to_cfg_across_and_seed_down_and_can_be_named(outputs: Path, tmp_path: Path) -> None:
    assert compare([outputs], tmp_path / "a")[2] == ("cfg", "seed")
    assert compare([outputs], tmp_path / "b", by="Seed", vs="KSampler.cfg")[2] == ("seed", "cfg")
    with pytest.raises(AtelierError) as unknown:
        compare([outputs], tmp_path / "c", by="denoyse")
    assert str(unknown.value) == (
        "No setting called 'denoyse' is in these outputs. Settings that differ between them: CFG, Seed."
    )
    with pytest.raises(AtelierError) as same:
        compare([outputs], tmp_path / "d", by="cfg", vs="cfg")
    assert same.value.code == "compare-same-knob"


def test_files_can_be_named_one_by_one(tmp_path: Path) -> None:
    pictures = sorted((FIXTURES / "txt2img" / "atelier").glob("*.png"))[:2]
    table, _, axes = compare(pictures, tmp_path / "cmp")
    assert [i.path for i in table.items] == pictures and axes == ("cfg", None)


def test_nothing_to_compare_is_said_plainly(tmp_path: Path) -> None:
    broken = Path(shutil.copytree(FIXTURES / "broken", tmp_path / "broken"))
    result = subprocess.run(
        [ATELIER, "compare", str(broken), "--out", str(tmp_path / "cmp")], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: There is nothing to compare in {broken}")
    assert "Traceback" not in result.stderr


def test_cli_reports_what_differs_and_where_it_wrote(outputs: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [ATELIER, "compare", str(outputs), "--out", str(tmp_path / "cmp")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"Not compared: {outputs / 'broken' / 'notes.txt'} (not an output: not a picture, sound, video or 3D file)"
        in lines
    )
    assert "Compared 4 outputs; settings that differ: Seed, CFG." in lines
    assert "Contact sheet: CFG across, Seed down." in lines
    assert lines[-3:] == [
        f"Wrote {tmp_path / 'cmp' / name}" for name in ("comparison.xlsx", "comparison.csv", "contact-sheet.html")
    ]
