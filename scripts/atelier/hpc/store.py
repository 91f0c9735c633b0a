"""`atelier models fetch`: the shared model store, filled safely.

Models are large and a download can break halfway, on a cluster whose scratch space is
purged and whose compute nodes may have no internet. So each file is fetched from the
URL its workflow declares into `<name>.part`, resumed where it stopped, checked
against the publisher's sha256 before an atomic move into place, and refused on a
mismatch. Free space is checked before the first byte; files already verified are
skipped without hashing them again (by size and modification time, which is quick).

`atelier models verify` trusts no record: it reads every file again, since a file can
change in place with its time kept (a restore, a faulty disk, a hand edit), and moves
one that no longer matches out of ComfyUI's sight.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from atelier.files import aside_stamp
from atelier.lessons.modules import Module
from atelier.messages import AtelierError

CHUNK = 1 << 20
DiskUsage = Callable[[Path], int]  # free bytes at a path


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str
    directory: str
    sha256: str | None

    def target(self, store: Path) -> Path:
        return store / self.directory / self.name


def declared(modules: list[Module]) -> list[ModelFile]:
    """Every model the modules' workflows declare, once each."""
    found = {
        model.name: ModelFile(model.name, model.url, model.directory, model.sha256)
        for module in modules
        for model in module.models()
    }
    return sorted(found.values(), key=lambda m: m.name)


class Store:
    """The model folder, and the record of which files have been verified."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.record_path = root / ".verified.json"
        self.record: dict[str, dict] = json.loads(self.record_path.read_text()) if self.record_path.is_file() else {}

    def verified(self, model: ModelFile) -> bool:
        target = model.target(self.root)
        entry = self.record.get(f"{model.directory}/{model.name}")
        if not target.is_file() or entry is None:
            return False
        stat = target.stat()
        return entry == {"sha256": model.sha256, "size": stat.st_size, "mtime": stat.st_mtime_ns}

    def forget(self, model: ModelFile) -> None:
        if self.record.pop(f"{model.directory}/{model.name}", None) is not None:
            self._save()

    def _save(self) -> None:
        self.record_path.write_text(json.dumps(self.record, indent=1, sort_keys=True) + "\n")

    def mark(self, model: ModelFile) -> None:
        stat = model.target(self.root).stat()
        self.record[f"{model.directory}/{model.name}"] = {
            "sha256": model.sha256,
            "size": stat.st_size,
            "mtime": stat.st_mtime_ns,
        }
        self._save()


def _size(model: ModelFile) -> int:
    """The file's size, asked before any download so free space can be checked first."""
    request = urllib.request.Request(model.url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.headers.get("Content-Length") or 0)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise AtelierError("models-size-failed", name=model.name, url=model.url, reason=str(err)) from None


def _sha256(path: Path, on_bytes: Callable[[int], None] = lambda count: None) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            on_bytes(len(chunk))
    return digest


def _download(model: ModelFile, partial: Path, progress: Callable[[int], None]) -> hashlib._Hash:
    """Fetch into `partial`, continuing from its current length when the server allows."""
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(model.url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = have and response.status == 206
            digest = _sha256(partial) if resumed else hashlib.sha256()
            progress(have if resumed else 0)
            expected = int(response.headers.get("Content-Length") or -1)
            received = 0
            with partial.open("ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    progress(len(chunk))
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        raise AtelierError("models-download-failed", name=model.name, url=model.url, reason=str(err)) from None
    if 0 <= received < expected:  # the link dropped: keep the part, the next run resumes
        raise AtelierError(
            "models-download-failed",
            name=model.name,
            url=model.url,
            reason=f"the connection closed after {received} of {expected} bytes",
        )
    return digest


def fetch(
    models: list[ModelFile],
    root: Path,
    on_start: Callable[[ModelFile, int], None] = lambda model, size: None,
    on_bytes: Callable[[int], None] = lambda count: None,
    free_bytes: DiskUsage = lambda path: shutil.disk_usage(path).free,
) -> dict[str, str]:
    """Download and verify; returns {name: what happened} ("verified", "downloaded", "present")."""
    root.mkdir(parents=True, exist_ok=True)
    store = Store(root)
    todo = [m for m in models if not store.verified(m)]
    needed = {}
    for model in todo:
        partial = model.target(root).with_name(model.name + ".part")
        if model.target(root).is_file() and model.sha256 is None:
            continue
        needed[model.name] = max(0, _size(model) - (partial.stat().st_size if partial.exists() else 0))
    free = free_bytes(root)
    if sum(needed.values()) > free:
        raise AtelierError(
            "models-no-space", store=root, needed=f"{sum(needed.values()) / 1e9:.1f}", free=f"{free / 1e9:.1f}"
        )
    results = {m.name: "verified" for m in models if m not in todo}
    for model in todo:
        target = model.target(root)
        if target.is_file() and model.sha256 is None:
            results[model.name] = "present (no published sha256 to verify it)"
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(model.name + ".part")
        if target.is_file():  # there, but not verified yet: check it in place
            if _sha256(target).hexdigest() == model.sha256:
                store.mark(model)
                results[model.name] = "verified"
                continue
            target.replace(partial)  # keep nothing unverified in place
            partial.unlink()
        on_start(model, needed.get(model.name, 0) + (partial.stat().st_size if partial.exists() else 0))
        digest = _download(model, partial, on_bytes).hexdigest()
        if model.sha256 and digest != model.sha256:
            partial.unlink()
            raise AtelierError("models-hash-mismatch", name=model.name, expected=model.sha256, got=digest)
        partial.replace(target)  # atomic: the file is complete or absent
        if model.sha256:
            store.mark(model)
        results[model.name] = "downloaded"
    return results


def import_files(
    models: list[ModelFile], source: Path, root: Path, on_bytes: Callable[[int], None] = lambda count: None
) -> dict[str, str]:
    """Copy model files fetched elsewhere from `source` into the store, each checked first.

    For a host that cannot reach the publishers: a file is found in `source` (or any
    folder below it) by its name, its sha256 is compared with the published one while it
    is copied to `<name>.part`, and only a match is moved into place. A mismatch is
    refused and nothing of it stays in the store. Returns {name: what happened}.
    """
    store = Store(root)
    found = {path.name: path for path in sorted(source.rglob("*"), reverse=True) if path.is_file()}
    results = {}
    for model in models:
        origin = found.get(model.name)
        if store.verified(model):
            results[model.name] = "verified"
            continue
        if origin is None:
            results[model.name] = "not found"
            continue
        target = model.target(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(model.name + ".part")
        digest = hashlib.sha256()
        with origin.open("rb") as stream, partial.open("wb") as out:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                on_bytes(len(chunk))
        if model.sha256 and digest.hexdigest() != model.sha256:
            partial.unlink()
            raise AtelierError(
                "models-import-mismatch", name=model.name, file=origin, expected=model.sha256, got=digest.hexdigest()
            )
        partial.replace(target)
        if model.sha256:
            store.mark(model)
        results[model.name] = "imported" if model.sha256 else "imported (no published sha256 to verify it)"
    return results


QUARANTINE = ".changed"  # in the store: files that failed verification, by date, never loaded by ComfyUI


@dataclass(frozen=True)
class Verdict:
    """What reading one declared file again found."""

    model: ModelFile
    outcome: str  # "verified", "changed", "missing" or "unverifiable" (no published sha256)
    got: str | None = None  # the sha256 read, when it differs
    moved: Path | None = None  # where a changed file now is


def verify(models: list[ModelFile], root: Path, on_bytes: Callable[[int], None] = lambda count: None) -> list[Verdict]:
    """Read every declared file in the store and compare it with its published sha256.

    The record is rewritten from what was read. A file that differs is moved under
    `<store>/.changed/<date>/`, so no lesson loads it and nothing is deleted.
    """
    store = Store(root)
    verdicts = []
    for model in models:
        target = model.target(root)
        if not target.is_file():
            verdicts.append(Verdict(model, "missing"))
            continue
        if model.sha256 is None:
            verdicts.append(Verdict(model, "unverifiable"))
            continue
        digest = _sha256(target, on_bytes)
        if digest.hexdigest() == model.sha256:
            store.mark(model)
            verdicts.append(Verdict(model, "verified"))
            continue
        moved = root / QUARANTINE / aside_stamp() / model.directory / model.name
        moved.parent.mkdir(parents=True, exist_ok=True)
        target.replace(moved)
        store.forget(model)
        verdicts.append(Verdict(model, "changed", digest.hexdigest(), moved))
    return verdicts
