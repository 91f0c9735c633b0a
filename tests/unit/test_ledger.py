"""The ledger on committed ComfyUI outputs (tests/fixtures/outputs, made by tests/comfyui/media.py)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from atelier.keep import ledger
from atelier.keep.outputs import core_settings, parameters, read_output
from atelier.messages import AtelierError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "outputs"
PICTURES = [f"txt2img/atelier/txt2img_0000{n}_.png" for n in range(1, 5)]
STATUSES = {
    "broken/cut-short.png": "truncated",
    "broken/junk.mp4": "unreadable",
    "broken/notes.txt": "not an output",
    "broken/photo.jpg": "no settings",
    "media/media/anim_00001_.webp": "ok",
    "media/media/clip_00001_.mp4": "ok",
    "media/media/tone_00001_.flac": "ok",
    "media/media/tone_00002_.mp3": "ok",
    "media/media/tone_00003_.opus": "ok",
    "mesh/shape.glb": "ok",
    **{name: "ok" for name in PICTURES},
}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURES, tmp_path / "outputs"))


def test_scan_reads_every_kind_and_names_what_it_cannot(outputs: Path) -> None:
    fresh, unchanged = ledger.scan(outputs)
    assert unchanged == 0
    assert {o.file: o.status for o in fresh} == STATUSES
    notes = {o.file: o.note for o in fresh}
    assert notes["broken/cut-short.png"] == "the file is cut short (still being written, or a copy was interrupted)"
    assert notes["broken/photo.jpg"] == "no ComfyUI settings inside (made elsewhere, or saved without them)"
    assert notes["broken/notes.txt"] == "not a picture, sound, video or 3D file"
    assert (outputs / ledger.LEDGER).is_file()


def test_pictures_carry_the_lesson_and_the_settings_a_student_changed(outputs: Path) -> None:
    ledger.scan(outputs)
    rows = {o.file: o for o in ledger.rows(outputs)}
    grid = [(rows[name].settings["seed"], rows[name].settings["cfg"]) for name in PICTURES]
    assert grid == [(1, 4.0), (1, 8.0), (2, 4.0), (2, 8.0)]
    first = rows[PICTURES[0]]
    assert first.settings == {
        "module": "txt2img-basics",
        "model": "v1-5-pruned-emaonly.safetensors",
        "seed": 1,
        "steps": 2,
        "cfg": 4.0,
        "sampler": "euler",
        "scheduler": "normal",
        "positive": "a still life of lemons and a blue jug on a wooden table, oil painting, soft window light",
        "negative": "blurry, low quality, watermark, text",
    }
    assert (first.width, first.height, first.kind) == (64, 64, "image")
    assert first.params["Image size.width"] == 64 and first.params["KSampler.denoise"] == 1.0
    assert first.params["Save Image.filename_prefix"] == "atelier/txt2img"


def test_sound_video_and_3d_settings_and_sizes(outputs: Path) -> None:
    ledger.scan(outputs)
    rows = {o.file: o for o in ledger.rows(outputs)}
    video = rows["media/media/clip_00001_.mp4"]
    assert (video.kind, video.width, video.height, video.seconds) == ("video", 48, 32, 0.5)
    assert video.params["Create Video.fps"] == 6.0 and video.params["Save Video.codec"] == "h264"
    for name in ("tone_00001_.flac", "tone_00002_.mp3", "tone_00003_.opus"):
        sound = rows[f"media/media/{name}"]
        assert sound.kind == "sound" and sound.seconds == pytest.approx(1.0, abs=0.01)
        assert sound.params["Load Audio.audio"] == "tone.wav"
    assert rows["media/media/anim_00001_.webp"].params["Save WebP.quality"] == 80
    assert rows["mesh/shape.glb"].params == {"Save GLB.filename_prefix": "mesh/ComfyUI"}


def test_scanning_again_reads_only_new_and_changed_files(outputs: Path) -> None:
    ledger.scan(outputs)
    assert ledger.scan(outputs) == ([], len(STATUSES))
    shutil.copy(outputs / PICTURES[0], outputs / "txt2img" / "copy.png")
    (outputs / "broken" / "notes.txt").write_text("more ideas, longer now\n", encoding="utf-8")
    fresh, unchanged = ledger.scan(outputs)
    assert sorted(o.file for o in fresh) == ["broken/notes.txt", "txt2img/copy.png"]
    assert unchanged == len(STATUSES) - 1


def test_a_deleted_file_leaves_the_ledger_rows_of_the_rest(outputs: Path) -> None:
    ledger.scan(outputs)
    (outputs / PICTURES[0]).unlink()
    assert [o.file for o in ledger.rows(outputs)] == sorted(set(STATUSES) - {PICTURES[0]})


def test_ledger_opens_in_any_sqlite_tool(outputs: Path) -> None:
    ledger.scan(outputs)
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        found = db.execute(
            "SELECT seed, cfg, module FROM outputs WHERE kind = 'image' AND status = 'ok' "
            "AND module IS NOT NULL ORDER BY file"
        ).fetchall()
    assert found == [
        ("1", 4.0, "txt2img-basics"),
        ("1", 8.0, "txt2img-basics"),
        ("2", 4.0, "txt2img-basics"),
        ("2", 8.0, "txt2img-basics"),
    ]


def test_a_damaged_ledger_is_named_and_kept(outputs: Path) -> None:
    (outputs / ledger.LEDGER).write_bytes(b"not a database at all, " * 100)
    with pytest.raises(AtelierError) as damaged:
        ledger.scan(outputs)
    assert damaged.value.code == "ledger-unreadable"
    assert str(outputs / ledger.LEDGER) in str(damaged.value)
    assert (outputs / ledger.LEDGER).read_bytes().startswith(b"not a database")


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as missing:
        ledger.scan(tmp_path / "nowhere")
    assert missing.value.code == "ledger-folder-missing"


def test_record_adds_rows_for_run_outputs(outputs: Path) -> None:
    made = [outputs / PICTURES[1]]
    ledger.record(outputs, made, "run")
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        assert db.execute("SELECT file, source, cfg FROM outputs").fetchall() == [(PICTURES[1], "run", 8.0)]
    fresh, _ = ledger.scan(outputs)
    assert PICTURES[1] not in {o.file for o in fresh}  # already recorded, not read twice


def test_a_seed_beyond_sqlite_integers_round_trips(tmp_path: Path) -> None:
    picture = FIXTURES / PICTURES[0]
    prompt = json.loads(read_png_text(picture)["prompt"])
    prompt["5"]["inputs"]["seed"] = 2**64 - 1  # ComfyUI's largest seed
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    with Image.open(picture) as image:
        image.save(tmp_path / "big-seed.png", pnginfo=info)
    ledger.scan(tmp_path)
    assert ledger.rows(tmp_path)[0].settings["seed"] == 2**64 - 1


def read_png_text(path: Path) -> dict[str, str]:
    from PIL import Image

    with Image.open(path) as image:
        return dict(image.info)


PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": ["9", 0], "clip": ["1", 1]}, "_meta": {"title": "Prompt"}},
    "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["1", 1]}, "_meta": {"title": "Avoid"}},
    "4": {
        "class_type": "ControlNetApplyAdvanced",
        "inputs": {"positive": ["2", 0], "negative": ["3", 0], "strength": 0.8},
    },
    "5": {
        "class_type": "KSampler",
        "_meta": {"title": "Sampler"},
        "inputs": {
            "model": ["1", 0],
            "positive": ["4", 0],
            "negative": ["4", 1],
            "seed": ["8", 0],
            "steps": 20,
            "cfg": 6.5,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "denoise": 1.0,
        },
    },
    "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "a"}},
    "7": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "b"}},
    "8": {"class_type": "PrimitiveInt", "inputs": {"value": 1234}},
    "9": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a red kite over dunes"}},
}


def test_settings_follow_primitives_and_conditioning_chains() -> None:
    assert core_settings(PROMPT) == {
        "model": "sd15.safetensors",
        "seed": 1234,
        "steps": 20,
        "cfg": 6.5,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "positive": "a red kite over dunes",
        "negative": "blurry",
    }


def test_parameters_are_named_by_title_and_told_apart_when_titles_repeat() -> None:
    params = parameters(PROMPT)
    assert params["Sampler.cfg"] == 6.5 and params["ControlNetApplyAdvanced.strength"] == 0.8
    assert params["SaveImage #6.filename_prefix"] == "a" and params["SaveImage #7.filename_prefix"] == "b"
    assert "Sampler.seed" not in params  # a link, resolved in the core settings instead


def test_reading_never_raises_for_junk(tmp_path: Path) -> None:
    for name, data in {
        "a.png": b"\x89PNG\r\n\x1a\n" + os.urandom(64),
        "b.webp": b"RIFF\x00\x00\x00\x00WEBP",
        "c.glb": b"glTF" + b"\x02\x00\x00\x00" + b"\x14\x00\x00\x00" + b"\x00" * 8,
        "d.flac": b"fLaC" + bytes(200),
        "e.wav": b"",
    }.items():
        (tmp_path / name).write_bytes(data)
        assert read_output(tmp_path / name).status in {"truncated", "unreadable"}, name


def test_every_ledger_column_is_explained_for_the_runbook(outputs: Path) -> None:
    ledger.scan(outputs)
    with sqlite3.connect(outputs / ledger.LEDGER) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(outputs)")]
    assert columns == list(ledger.MEANINGS)
