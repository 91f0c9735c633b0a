"""The run ledger: one SQLite file in an outputs folder, one row per file in it.

Why SQLite: one file that travels with the outputs, opens in any SQL tool or spreadsheet
add-on, and takes 1,000 rows in one transaction in milliseconds. The settings live in
each output's own metadata; the ledger is an index of them that `scan` rebuilds at any
time (reading only files that are new or changed since the last scan), plus the one
thing files cannot say about themselves: when each was backed up, and where.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atelier.keep.outputs import CORE, Output, read_output
from atelier.messages import AtelierError

LEDGER = "atelier-ledger.sqlite"
COMPARISONS = "comparisons"  # what the Compare page makes in an outputs folder: documents, not outputs
COLUMNS = ("file", "kind", "status", "note", "bytes", "modified", "width", "height", "seconds") + CORE
MEANINGS = {  # every column of the `outputs` table, for the runbook page that lists them
    "file": "the file's path inside the outputs folder",
    "kind": "image, video, sound, 3d or other",
    "status": "ok; no settings (made elsewhere); truncated (cut short); unreadable; not an output",
    "note": "why, when the status is not ok",
    "bytes": "its size",
    "modified": "when it last changed (seconds since 1970), which tells a scan it is new",
    "width": "pictures and videos: pixels across",
    "height": "pictures and videos: pixels down",
    "seconds": "sound and video: how long it lasts",
    "module": "the lesson it came from, when it started from a lesson's workflow",
    "model": "the checkpoint or diffusion model",
    "seed": "the sampler's seed (text: seeds go beyond SQLite's integers)",
    "steps": "the sampler's steps",
    "cfg": "the sampler's CFG",
    "sampler": "the sampler's name",
    "scheduler": "the sampler's scheduler",
    "positive": "the prompt text",
    "negative": "the negative prompt text",
    "params": 'every other setting, as JSON: {"Node title.input": value}',
    "source": "scan, run or check: what wrote the row",
    "recorded": "when the row was written (UTC)",
}
NUMBERS = {"bytes", "modified", "width", "height", "seconds", "steps", "cfg"}  # seeds stay TEXT: up to 2**64
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS outputs (
    {", ".join(f"{c} {'REAL' if c in NUMBERS else 'TEXT'}" for c in COLUMNS)},
    params TEXT,      -- JSON: every widget value, "Node title.input": value
    source TEXT,      -- scan, run or check
    recorded TEXT,    -- when this row was written (UTC)
    PRIMARY KEY (file)
);
CREATE TABLE IF NOT EXISTS backups (
    file TEXT, bytes REAL, modified REAL,
    remote TEXT,      -- where it went, e.g. box:Atelier/outputs
    copied TEXT,      -- when (UTC)
    PRIMARY KEY (file, remote)
);
"""


# A folder holding this file holds a tool's small copies of its pictures, for its gallery: not work of its
# own (`atelier serve --tool` marks the folders a tool's declaration names under `previews`).
PREVIEWS = ".atelier-previews"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(folder: Path, index: Path | None = None) -> sqlite3.Connection:
    """The folder's ledger, made on first use; a damaged one is a clear error, never replaced.

    `index` keeps it elsewhere, for a folder that must stay as it is (a student's, read for a class wall).
    """
    path = index or folder / LEDGER
    try:
        db = sqlite3.connect(path, timeout=30)
        db.executescript(SCHEMA)
    except sqlite3.DatabaseError as err:
        raise AtelierError("ledger-unreadable", file=path, problem=str(err)) from None
    db.row_factory = sqlite3.Row
    return db


def walk(folder: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Every file under `folder` but the ledger itself, hidden ones, the Compare page's
    documents (its top-level comparisons/ folder) and a folder of a tool's previews of its own
    pictures (marked with PREVIEWS: InvokeAI's images/thumbnails/), as ("a/b.png", entry)."""
    stack = [(folder, "")]
    while stack:
        here, prefix = stack.pop()
        with os.scandir(here) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if (
                    entry.name.startswith(".")
                    or entry.name.startswith(LEDGER)
                    or (not prefix and entry.name == COMPARISONS)
                    or (entry.is_dir(follow_symlinks=False) and os.path.exists(os.path.join(entry.path, PREVIEWS)))
                ):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    yield f"{prefix}{entry.name}", entry


def _values(output: Output, source: str) -> tuple[Any, ...]:
    seed = output.settings.get("seed")
    row = {
        **{c: getattr(output, c, None) for c in COLUMNS},
        **output.settings,
        "seed": str(seed) if seed is not None else None,
    }  # seeds pass SQLite's 64-bit integers
    return (*(row.get(c) for c in COLUMNS), json.dumps(output.params), source, _now())


def _write(db: sqlite3.Connection, outputs: list[Output], source: str) -> None:
    marks = ", ".join("?" * (len(COLUMNS) + 3))
    db.executemany(f"INSERT OR REPLACE INTO outputs VALUES ({marks})", [_values(o, source) for o in outputs])


def scan(folder: Path, on_file: Any = None, index: Path | None = None) -> tuple[list[Output], int]:
    """Read new and changed files into the ledger: (those read, how many were unchanged)."""
    if not folder.is_dir():
        raise AtelierError("ledger-folder-missing", folder=folder)
    with closing(connect(folder, index)) as db, db:
        known = {
            r["file"]: (r["bytes"], r["modified"]) for r in db.execute("SELECT file, bytes, modified FROM outputs")
        }
        fresh: list[Output] = []
        unchanged = 0
        for name, entry in walk(folder):
            stat = entry.stat()
            if known.get(name) == (stat.st_size, stat.st_mtime):
                unchanged += 1
                continue
            fresh.append(read_output(Path(entry.path), name))
            if on_file:
                on_file(fresh[-1])
        _write(db, fresh, "scan")
    return fresh, unchanged


def record(folder: Path, files: list[Path], source: str) -> list[Output]:
    """Add rows for files `atelier run` or `check` just wrote under `folder`."""
    outputs = [read_output(f, f.resolve().relative_to(folder.resolve()).as_posix()) for f in files]
    with closing(connect(folder)) as db, db:
        _write(db, outputs, source)
    return outputs


def _output(row: sqlite3.Row) -> Output:
    settings = {c: row[c] for c in CORE if row[c] is not None}
    if "seed" in settings:
        settings["seed"] = int(settings["seed"]) if str(settings["seed"]).lstrip("-").isdigit() else settings["seed"]
    if "steps" in settings:
        settings["steps"] = int(settings["steps"])
    return Output(
        row["file"],
        row["kind"],
        row["status"],
        row["note"] or "",
        int(row["bytes"] or 0),
        float(row["modified"] or 0),
        _int(row["width"]),
        _int(row["height"]),
        row["seconds"],
        settings,
        json.loads(row["params"] or "{}"),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def rows(folder: Path, index: Path | None = None) -> list[Output]:
    """Every row for a file still in the folder, in file order."""
    with closing(connect(folder, index)) as db:
        found = [_output(r) for r in db.execute("SELECT * FROM outputs ORDER BY file")]
    return [o for o in found if (folder / o.file).is_file()]


def not_backed_up(folder: Path, outputs: list[Output], remote: str) -> list[Output]:
    """Those of `outputs` (rows of `folder`) whose current version is not yet at `remote`."""
    with closing(connect(folder)) as db:
        done = {
            (r["file"], r["bytes"], r["modified"])
            for r in db.execute("SELECT file, bytes, modified FROM backups WHERE remote = ?", (remote,))
        }
    return [o for o in outputs if (o.file, o.bytes, o.modified) not in done]


def mark_backed_up(folder: Path, outputs: list[Output], remote: str) -> None:
    with closing(connect(folder)) as db, db:
        db.executemany(
            "INSERT OR REPLACE INTO backups VALUES (?, ?, ?, ?, ?)",
            [(o.file, o.bytes, o.modified, remote, _now()) for o in outputs],
        )


def backed_up(folder: Path) -> dict[str, str]:
    """File -> when its newest copy reached a remote, for the status of a folder."""
    with closing(connect(folder)) as db:
        return {
            r["file"]: r["copied"] for r in db.execute("SELECT file, MAX(copied) AS copied FROM backups GROUP BY file")
        }


def counts(outputs: list[Output]) -> dict[str, int]:
    found: dict[str, int] = {}
    for output in outputs:
        found[output.status] = found.get(output.status, 0) + 1
    return found
