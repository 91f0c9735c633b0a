"""The outputs folder as the Compare page sees it: what is listed, what may be served, where comparisons go.

Apart from the routes (__init__.py) and the HTML (pages.py) because this is the part that decides
what of a student's folder leaves it: the kinds of file, the paths that stay inside, the names of
the comparisons. Standalone like the rest of the extension: it imports nothing of atelier's.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Copies of atelier's names (keep/ledger.py, keep/compare.py, keep/outputs.py, files.py), which this
# cannot import: tests/unit/test_copies.py holds each to its source.
COMPARISONS = "comparisons"  # in the outputs folder: one folder per comparison made here
LEDGER = "atelier-ledger.sqlite"
SHEET, WORKBOOK, CSV_FILE = "contact-sheet.html", "comparison.xlsx", "comparison.csv"  # as keep/compare.py writes
STAMP_FORMAT = "%Y-%m-%d_%H-%M-%S"  # a comparison's folder, dated as atelier dates what it keeps aside
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(?:-\d{1,4})?$")
# What keep/outputs.py reads, by the type a browser is told.
MEDIA = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".glb": "model/gltf-binary",
}
PICTURES = {".png", ".webp", ".jpg", ".jpeg", ".gif"}
MADE = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}  # only inside comparisons/
THUMB = 192  # pixels, longest side, in the list


@dataclass(frozen=True)
class Found:
    """One output in the list: its path inside the outputs folder, "/"-separated."""

    name: str
    modified: float

    @property
    def picture(self) -> bool:
        return PurePosixPath(self.name).suffix.lower() in PICTURES


def outputs(folder: Path) -> list[Found]:
    """Every output a comparison can show, newest first; hidden files, links, the ledger and the comparisons
    made here (their thumbnails are pictures too) are left out."""
    found: list[Found] = []
    stack = [(folder, "")]
    while stack:
        here, prefix = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name.startswith(LEDGER):
                continue
            if entry.is_dir(follow_symlinks=False):
                if prefix or entry.name != COMPARISONS:
                    stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in MEDIA:
                try:
                    found.append(Found(prefix + entry.name, entry.stat(follow_symlinks=False).st_mtime))
                except OSError:
                    continue
    return sorted(found, key=lambda f: (-f.modified, f.name))


def newest(found: list[Found], count: int) -> list[str]:
    """ "The last N": the `count` most recent outputs, oldest first, as a contact sheet reads."""
    return [f.name for f in reversed(found[: max(count, 0)])]


def served(folder: Path, name: str) -> Path | None:
    """The file `name` (from a URL) means inside the outputs folder, if it may be shown: else None.

    Only outputs and what a comparison wrote; never a path that climbs out, an absolute
    one, a hidden one, or a link that leads outside the folder."""
    if not name or "\x00" in name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", ".") or part.startswith(".") for part in name.split("/")):
        return None
    suffix = path.suffix.lower()
    if suffix not in MEDIA and not (path.parts[0] == COMPARISONS and suffix in MADE):
        return None
    root = folder.resolve()
    target = (root / name).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return None
    if any(target.with_name(target.name + extra).exists() for extra in (".gz", ".br")):
        return None  # aiohttp would serve that file instead, unchecked
    return target


def new_folder(parent: Path, now: float, taken: set[str] | frozenset[str] = frozenset()) -> Path:
    """comparisons/<date-time>, a new one even for two comparisons within a second (`taken`: names given
    to comparisons that have not made their folder yet)."""
    stamp = time.strftime(STAMP_FORMAT, time.localtime(now))
    candidate, n = parent / stamp, 1
    while candidate.exists() or candidate.name in taken:
        n += 1
        candidate = parent / f"{stamp}-{n}"
    return candidate


def made_before(folder: Path, most: int = 10) -> list[str]:
    """The comparisons made here that still have their contact sheet, newest first."""
    try:
        stamps = [e.name for e in os.scandir(folder / COMPARISONS) if STAMP.match(e.name) and e.is_dir()]
    except OSError:
        return []
    return [s for s in sorted(stamps, reverse=True) if (folder / COMPARISONS / s / SHEET).is_file()][:most]


def thumbnail(source: Path, cache: Path) -> Path | None:
    """A small JPEG of a picture, made once per version of it."""
    stat = source.stat()
    key = hashlib.sha1(f"{source}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = cache / f"{key}.jpg"
    if target.is_file():
        return target
    from PIL import Image  # ComfyUI's own Pillow

    try:
        with Image.open(source) as picture:
            picture.draft("RGB", (THUMB, THUMB))
            small = picture.convert("RGB")
            small.thumbnail((THUMB, THUMB))
            cache.mkdir(parents=True, exist_ok=True)
            part = cache / f"{key}.{secrets.token_hex(4)}.part"
            small.save(part, "JPEG", quality=80)
            part.replace(target)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return target
