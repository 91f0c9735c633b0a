"""The student's own ComfyUI folder, kept between sessions, and one session's copy of it.

ComfyUI keeps saved workflows, settings and templates in its user folder, with an
SQLite database beside them. The student's folder is in their home (or group space),
on the cluster's network file system, where SQLite shared by two processes is unsafe
and two sessions writing one settings file at once could tear it. So each session's
ComfyUI works on a copy on the node's own disk, database included, and `SessionCopy`
carries changes both ways between that copy and the student's folder: every few
seconds while the session runs, and once more when it ends.

The rules, which the tests hold:
- a file is written beside its place and renamed into it, so a reader sees the old
  file or the new one, never half of it;
- one session at a time syncs (a lock file made with O_EXCL, which network file
  systems honour), so two sessions never decide on a stale view;
- a file changed here and in another session is never overwritten: settings are
  merged setting by setting; of any other file, this session's version is kept under a
  second name ("… (from session 123, <time>).json") and the other's comes here, so both
  appear in the Workflows panel;
- a version another session brought in while this one ran (the page may never have
  shown it) is kept under a second name too before a save here takes its place;
- a file deleted in a session moves to `deleted/` in the student's folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from atelier.files import Lock, aside_stamp, write_whole
from atelier.layout import SETTINGS as SETTINGS_FILE
from atelier.layout import WORKFLOWS, described

SETTINGS = SETTINGS_FILE.name
# ComfyUI's database stays with the session (its journal files too); a name starting with a dot is
# our own half-written file or lock, one ending .partial rclone's (the Box app bringing files back).
NOT_SYNCED = ("comfyui.db",)


@dataclass(frozen=True)
class StudentFolder:
    """The folder a profile's `user_folder` names: what every session of this student shares."""

    root: Path

    @property
    def user(self) -> Path:
        """ComfyUI's user folder as sessions left it: saved workflows, settings, templates."""
        return self.root / "user"

    @property
    def input(self) -> Path:
        """Pictures the student uploads; ComfyUI gives each upload a name of its own, so sessions share it."""
        return self.root / "input"

    @property
    def deleted(self) -> Path:
        """Files deleted in a session, by date and time: nothing the student saved is lost."""
        return self.root / "deleted"

    @property
    def workflows(self) -> Path:
        """The Workflows panel: what the student saved, in every session"""
        return self.user / WORKFLOWS

    @property
    def settings(self) -> Path:
        """ComfyUI's settings, as the student last changed them"""
        return self.user / SETTINGS_FILE

    @property
    def lock(self) -> Path:
        """Held for the moment a session syncs; one left by a killed job is taken over after a minute"""
        return self.root / ".sync-lock"

    def tree(self) -> list[tuple[str, str]]:
        """(path in the folder, what it holds), for the Runbook; folders end in /."""
        return described(self.root, self, ["user/", "workflows/", "settings", "input/", "deleted/", "lock"])

    def make(self) -> StudentFolder:
        for folder in (self.root, self.user, self.input):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # the student's only
        return self


@dataclass
class Synced:
    """What one sync did, by path in the user folder."""

    sent: list[str] = field(default_factory=list)  # changed here, now in the student's folder
    received: list[str] = field(default_factory=list)  # changed by another session, now here
    merged: list[str] = field(default_factory=list)  # settings changed on both sides, merged
    kept_both: list[tuple[str, str]] = field(default_factory=list)  # (file, the name this session's copy got)
    deleted: list[str] = field(default_factory=list)  # deleted here, moved to deleted/
    kept_theirs: list[tuple[str, str]] = field(default_factory=list)  # (file, the name the other session's got)
    waiting: list[str] = field(default_factory=list)  # still being written: the next sync takes them


def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def scan(folder: Path, known: dict[tuple[str, int, int, int, int], str] | None = None) -> dict[str, str]:
    """Every synced file under `folder`, by relative path, with its digest.

    `known` remembers digests by (path, inode, size, modification and change times): a sync
    every few seconds reads only the files that changed.
    """
    known = {} if known is None else known
    found = {}
    for path in folder.rglob("*") if folder.is_dir() else []:
        if path.name.startswith(".") or path.name.startswith(NOT_SYNCED) or path.name.endswith(".partial"):
            continue
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        if not path.is_file():
            continue
        key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if key not in known:
            value = digest(path)
            if value is None:
                continue
            known[key] = value
        found[path.relative_to(folder).as_posix()] = known[key]
    return found


def json_object(data: bytes | None) -> dict | None:
    """A settings file's settings; None while it does not read as one (ComfyUI writes it in place)."""
    try:
        value = json.loads(data) if data else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def merge_settings(base: bytes | None, mine: bytes, theirs: bytes) -> bytes | None:
    """Both sessions changed settings: theirs, with each setting this session changed or removed.

    None when either side is half-written: merging a torn file would drop every setting."""
    before, here, merged = json_object(base) or {}, json_object(mine), json_object(theirs)
    if here is None or merged is None:
        return None
    for key, value in here.items():
        if before.get(key, object()) != value:
            merged[key] = value
    for key in set(before) - set(here):
        merged.pop(key, None)
    return json.dumps(merged, indent=4).encode()


class SessionCopy:
    """A session's user folder on the node's disk, kept in step with the student's folder."""

    def __init__(self, student: StudentFolder, local: Path, label: str) -> None:
        self.student, self.local, self.label = student, local, label
        self.base: dict[str, str] = {}  # digest both sides agreed on at the last sync
        self.settings_base: dict[str, bytes] = {}  # the agreed bytes of each settings file, for merging
        self.offered: dict[str, str] = {}  # lessons put in the panel: not the student's work until changed
        self.offered_data: dict[str, bytes] = {}
        self.received: set[str] = set()  # brought in while the page may have had the file open already
        self.known: dict[tuple[str, int, int, int, int], str] = {}  # digests already read, see scan()
        self.written: set[str] = set()  # files this sync has written: the view it started from is old for them
        self.waiting: list[str] = []  # files that did not read whole at the last sync

    def seed(self) -> int:
        """Copy the student's folder here before ComfyUI starts; the number of files."""
        self.student.make()
        self.local.mkdir(mode=0o700, parents=True, exist_ok=True)
        with Lock(self.student.lock):
            for rel, value in scan(self.student.user).items():
                data = (self.student.user / rel).read_bytes()
                write_whole(self.local / rel, data)
                self._agree(rel, value, data)
        return len(self.base)

    def offer(self, name: str, data: bytes) -> str:
        """A lesson's workflow in the Workflows panel, never over the student's own file of that name."""
        stem, suffix = Path(name).stem, Path(name).suffix
        wanted = hashlib.sha256(data).hexdigest()
        for n in range(1, 100):
            label = "" if n == 1 else " (lesson)" if n == 2 else f" (lesson {n - 1})"
            rel = (WORKFLOWS / f"{stem}{label}{suffix}").as_posix()
            if digest(self.local / rel) in (None, wanted):
                break
        write_whole(self.local / rel, data)
        self.offered[rel], self.offered_data[rel] = wanted, data
        return rel

    def _agree(self, rel: str, value: str | None, data: bytes | None = None) -> None:
        if value is None:
            self.base.pop(rel, None)
            self.settings_base.pop(rel, None)
            return
        self.base[rel] = value
        if rel.endswith(SETTINGS) and data is not None:
            self.settings_base[rel] = data

    def sync(self, final: bool = False) -> Synced:
        """Carry changes both ways; see the module's rules. `final`: ComfyUI has stopped, so a file
        that does not read as JSON is as it will stay, and is kept as it is."""
        done = Synced()
        self.written, self.waiting = set(), []
        with Lock(self.student.lock):
            here, there = scan(self.local, self.known), scan(self.student.user, self.known)
            for rel in sorted(set(here) | set(there) | set(self.base)):
                if rel not in self.written:
                    self._one(rel, here.get(rel), there.get(rel), self.base.get(rel), done, final)
        if len(self.known) > 10_000:
            self.known.clear()
        done.waiting = list(self.waiting)
        return done

    def _one(self, rel: str, mine: str | None, theirs: str | None, base: str | None, done: Synced, final: bool) -> None:
        local, shared = self.local / rel, self.student.user / rel
        seen = mine  # what this sync read here
        if base is None and mine is not None and mine == self.offered.get(rel):
            if theirs is None or theirs == mine:
                return  # the lesson as offered is not the student's work
            # The student saved their own version of it in another session: theirs takes the
            # name, and the lesson moves aside, as offer() does when a session starts.
            if self._receive(rel, theirs, done, expected=seen):
                lesson = self.offered_data.pop(rel)
                del self.offered[rel]
                self.written.add(self.offer(Path(rel).name, lesson))
            return
        if mine == theirs:
            self._agree(rel, mine, local.read_bytes() if mine and rel.endswith(SETTINGS) else None)
        elif mine == base:  # only the other side changed
            self._receive(rel, theirs, done, expected=seen)
        elif theirs == base:  # only this session changed
            if mine is None:
                self._delete(rel, done)
            else:
                self._send(rel, rel, done, final)
        elif mine is None:  # deleted here, changed in another session: theirs stays, and comes back here
            self._receive(rel, theirs, done, expected=seen)
        elif theirs is None:  # changed here, deleted in another session: nothing is lost
            self._send(rel, rel, done, final)
        elif rel.endswith(SETTINGS):
            data = merge_settings(self.settings_base.get(rel), local.read_bytes(), shared.read_bytes())
            if data is None:
                self.waiting.append(rel)  # half-written on one side: merge at the next sync
                return
            write_whole(shared, data)
            write_whole(local, data)
            self._agree(rel, hashlib.sha256(data).hexdigest(), data)
            done.merged.append(rel)
        else:  # changed here and in another session: this session's under a second name, theirs here too
            other = self._second_name(rel, self.label)
            if self._send(rel, other, done, final):
                done.kept_both.append((rel, other))
                self._receive(rel, theirs, done, expected=seen)

    def _second_name(self, rel: str, whose: str) -> str:
        path = Path(rel)
        return (
            path.parent / f"{path.stem} (from {whose}, {time.strftime('%Y-%m-%d %H.%M.%S')}){path.suffix}"
        ).as_posix()

    def _receive(self, rel: str, theirs: str | None, done: Synced, expected: str | None) -> bool:
        """The student's folder's version here, unless ComfyUI changed the file since this sync read
        it (`expected`): then the next sync sees both changes."""
        local = self.local / rel
        if digest(local) != expected:
            return False
        if theirs is None:
            local.unlink(missing_ok=True)
            self._agree(rel, None)
        else:
            data = (self.student.user / rel).read_bytes()
            write_whole(local, data)
            self._agree(rel, theirs, data)
            self.received.add(rel)
        self.written.add(rel)
        done.received.append(rel)
        return True

    def _send(self, rel: str, dest: str, done: Synced, final: bool) -> bool:
        """This session's `rel` into the student's folder as `dest` (and here too, when it is a second name).

        ComfyUI writes a file in place: a workflow or settings file that does not read as JSON is
        still being written, and waits for the next sync (the last one keeps it as it is). A
        version another session brought in while this one ran, which the page may never have
        shown, is kept in replaced/ before this one takes its place."""
        data = (self.local / rel).read_bytes()
        if rel.endswith(".json") and not final:
            try:
                json.loads(data)
            except ValueError:
                self.waiting.append(rel)
                return False
        shared = self.student.user / dest
        if dest in self.received and shared.exists():  # the page may never have shown that version
            theirs = self._second_name(dest, "another session")
            kept = shared.read_bytes()
            write_whole(self.student.user / theirs, kept)
            write_whole(self.local / theirs, kept)
            self.written.add(theirs)
            self._agree(theirs, hashlib.sha256(kept).hexdigest(), kept)
            done.kept_theirs.append((dest, theirs))
            self.received.discard(dest)
        write_whole(shared, data)
        if dest != rel:
            write_whole(self.local / dest, data)
        self.written.add(dest)
        self._agree(dest, hashlib.sha256(data).hexdigest(), data)
        if dest == rel:
            done.sent.append(rel)
        return True

    def _delete(self, rel: str, done: Synced) -> None:
        stamp = aside_stamp()
        dest = self.student.deleted / stamp / rel
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.move(self.student.user / rel, dest)
        self._agree(rel, None)
        self.received.discard(rel)
        done.deleted.append(rel)
