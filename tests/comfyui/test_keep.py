"""Ledger, compare and backup on outputs a real ComfyUI makes now, and serve's backup at the session's end."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import openpyxl

from atelier.comfy.server import ComfyServer
from atelier.keep import ledger
from tests.comfyui.conftest import ATELIER, serve
from tests.comfyui.media import make

ROOT = Path(__file__).resolve().parents[2]
RUNS = [
    ("txt2img-basics", 1, 4.0),
    ("txt2img-basics", 2, 8.0),
    ("seeds-steps-cfg-samplers", 1, 8.0),
    ("seeds-steps-cfg-samplers", 2, 4.0),
]


def atelier(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATELIER, *args], cwd=ROOT, capture_output=True, text=True, env=env)


# Two steps at 64x64: enough for the ledger to read, quick on a CPU.
SMALL = ("--set", "KSampler.steps=2", "--set", "Image size.width=64", "--set", "Image size.height=64")


def test_every_kind_comfyui_saves_is_read_into_the_ledger(comfy_models: ComfyServer, tmp_path: Path) -> None:
    made = make(comfy_models, tmp_path / "outputs")
    fresh, _ = ledger.scan(tmp_path / "outputs")
    status = {o.file.rsplit("/", 1)[-1].split("_0")[0]: o.status for o in fresh}
    assert status == {
        "txt2img": "ok",
        "anim": "ok",
        "clip": "ok",
        "tone": "ok",
        "shape.glb": "ok",
        "cut-short.png": "truncated",
        "photo.jpg": "no settings",
        "notes.txt": "not an output",
        "junk.mp4": "unreadable",
    }
    assert len(fresh) == len(made) == 14


def test_two_lessons_with_different_seeds_and_cfg_compared(comfy_models: ComfyServer, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    for slug, seed, cfg in RUNS:
        done = atelier(
            "run",
            f"workflows/{slug}",
            "--server",
            comfy_models.url,
            "--key-file",
            str(comfy_models.token_file),
            "--out",
            str(out),
            "--set",
            f"KSampler.seed={seed}",
            "--set",
            f"KSampler.cfg={cfg}",
            *SMALL,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[-1] == f"Their settings are in the ledger {out / ledger.LEDGER}."
    with sqlite3.connect(out / ledger.LEDGER) as db:
        recorded = db.execute("SELECT module, seed, cfg, source FROM outputs ORDER BY recorded, file").fetchall()
    assert sorted(recorded) == sorted((slug, str(seed), cfg, "run") for slug, seed, cfg in RUNS)
    done = atelier("compare", str(out), "--by", "cfg", "--vs", "seed", "--out", str(tmp_path / "cmp"))
    assert done.returncode == 0, done.stderr
    assert "Compared 4 outputs; settings that differ: Lesson, Seed, CFG" in done.stdout
    sheet = openpyxl.load_workbook(tmp_path / "cmp" / "comparison.xlsx", data_only=True)["Outputs"]
    header = [c.value for c in sheet[1]]
    rows = {
        (r[header.index("Lesson")], r[header.index("Seed")], r[header.index("CFG")])
        for r in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert rows == set(RUNS)
    assert len(sheet._images) == 4
    page = (tmp_path / "cmp" / "contact-sheet.html").read_text()
    assert "<title>Contact sheet: CFG across, Seed down</title>" in page


def test_serve_backs_up_what_was_made_when_the_session_ends(comfy_models: ComfyServer, webdav, tmp_path: Path) -> None:
    env = {**os.environ, "RCLONE_CONFIG": str(webdav.config)}
    workdir = tmp_path / "session"
    backup = ["--backup-to", "test:Atelier", "--backup-every", "60"]
    process = serve(workdir, "--models", str(comfy_models.models), *backup, env=env)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[2].split(" ", 1)[1] == (
            "Backing up outputs to test:Atelier/outputs during the session and once more when it ends.\n"
        ), lines
        url = lines[0].split(" at ")[1].split(" ")[0]
        done = atelier(
            "run",
            "workflows/txt2img-basics",
            "--server",
            url,
            "--key-file",
            str(workdir / "gate" / "token"),
            "--out",
            str(tmp_path / "unused"),
            *SMALL,
        )
        assert done.returncode == 0, done.stderr
        made = sorted((workdir / "output").rglob("*.png"))
        assert len(made) == 1  # ComfyUI's own copy, in the session's outputs folder
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    tail = [line.split(" ", 1)[1] for line in process.stdout.read().splitlines()]
    assert tail[0] == f"ComfyUI stopped. Outputs are in {workdir / 'output'}"
    assert tail[1].startswith("Backed up 1 new or changed file to test:Atelier/outputs (0 already there)")
    copied = webdav.root / "Atelier" / "outputs" / made[0].relative_to(workdir / "output")
    assert copied.read_bytes() == made[0].read_bytes()
