"""The student's own ComfyUI folder: what one session saves is in the next, and two at once lose nothing."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from atelier.files import write_whole
from atelier.keep.userfolder import Lock, SessionCopy, StudentFolder, merge_settings
from atelier.messages import AtelierError

WORKFLOWS = "default/workflows"
SETTINGS = "default/comfy.settings.json"


def session(tmp_path: Path, name: str, label: str | None = None) -> SessionCopy:
    copy = SessionCopy(
        StudentFolder(tmp_path / "home" / "atelier-comfyui"), tmp_path / name / "user", label or f"session {name}"
    )
    copy.seed()
    return copy


def save(copy: SessionCopy, rel: str, text: str) -> None:
    """What ComfyUI does on File > Save: it writes the file in its (the session's) user folder."""
    path = copy.local / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def shared(copy: SessionCopy, rel: str) -> str:
    return (copy.student.user / rel).read_text(encoding="utf-8")


def test_a_workflow_saved_in_one_session_is_in_the_next(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    save(first, f"{WORKFLOWS}/my sketch.json", '{"nodes": [1]}')
    assert first.sync().sent == [f"{WORKFLOWS}/my sketch.json"]
    second = session(tmp_path, "b")
    assert (second.local / WORKFLOWS / "my sketch.json").read_text() == '{"nodes": [1]}'
    assert oct(second.student.root.stat().st_mode & 0o777) == "0o700"


def test_an_unchanged_lesson_is_not_the_students_and_never_replaces_their_own(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    assert first.offer("txt2img-basics.json", b"lesson") == f"{WORKFLOWS}/txt2img-basics.json"
    assert first.sync().sent == []  # the lesson as offered stays out of the student's folder
    save(first, f"{WORKFLOWS}/txt2img-basics.json", '"mine"')  # File > Save over the lesson's copy
    first.sync()
    second = session(tmp_path, "b")
    placed = second.offer("txt2img-basics.json", b"lesson")
    assert placed == f"{WORKFLOWS}/txt2img-basics (lesson).json"
    assert (second.local / WORKFLOWS / "txt2img-basics.json").read_text() == '"mine"'
    assert (second.local / placed).read_bytes() == b"lesson"
    second.sync()
    assert shared(second, f"{WORKFLOWS}/txt2img-basics.json") == '"mine"'
    assert not (second.student.user / placed).exists()


def names(copy: SessionCopy, pattern: str) -> dict[str, str]:
    """The student's folder's files matching `pattern`, by name, with what they hold."""
    return {p.name: p.read_text() for p in sorted((copy.student.user / WORKFLOWS).glob(pattern))}


def test_the_same_workflow_saved_in_two_sessions_keeps_both(tmp_path: Path) -> None:
    first, second = session(tmp_path, "a", "session 101"), session(tmp_path, "b", "session 102")
    save(first, f"{WORKFLOWS}/portrait.json", '"from 101"')
    first.sync()
    save(second, f"{WORKFLOWS}/portrait.json", '"from 102"')
    done = second.sync()
    [(name, other)] = done.kept_both
    assert name == f"{WORKFLOWS}/portrait.json" and other.startswith(f"{WORKFLOWS}/portrait (from session 102, ")
    assert names(second, "portrait*") == {"portrait.json": '"from 101"', Path(other).name: '"from 102"'}
    # Both are in this session's panel now: the other's under the name, this one's beside it.
    assert (second.local / WORKFLOWS / "portrait.json").read_text() == '"from 101"'
    assert (second.local / other).read_text() == '"from 102"'
    # The page still shows this session's version under the old name: saving it again keeps the
    # other session's (which the page never showed) beside it first.
    save(second, f"{WORKFLOWS}/portrait.json", '"from 102, later"')
    done = second.sync()
    [(name, theirs)] = done.kept_theirs
    assert theirs.startswith(f"{WORKFLOWS}/portrait (from another session, ")
    assert sorted(names(second, "portrait*").values()) == ['"from 101"', '"from 102"', '"from 102, later"']
    assert shared(second, f"{WORKFLOWS}/portrait.json") == '"from 102, later"'
    first.sync()  # the first session's panel gets all three
    assert sorted(p.read_text() for p in (first.local / WORKFLOWS).glob("portrait*")) == [
        '"from 101"',
        '"from 102"',
        '"from 102, later"',
    ]
    # A second name is an ordinary file: edited or deleted, that sticks.
    save(first, other, '"from 102, edited in 101"')
    first.sync()
    second.sync()
    assert (second.local / other).read_text() == '"from 102, edited in 101"'
    (second.local / other).unlink()
    second.sync()
    first.sync()
    assert not (first.local / other).exists() and not (first.student.user / other).exists()


def test_a_lesson_left_as_offered_gives_way_to_the_students_own_from_another_session(tmp_path: Path) -> None:
    first, second = session(tmp_path, "a"), session(tmp_path, "b")
    for copy in (first, second):
        copy.offer("txt2img-basics.json", b'"lesson"')
    save(first, f"{WORKFLOWS}/txt2img-basics.json", '"mine"')
    first.sync()
    done = second.sync()
    assert done.kept_both == [] and f"{WORKFLOWS}/txt2img-basics.json" in done.received
    assert (second.local / WORKFLOWS / "txt2img-basics.json").read_text() == '"mine"'
    assert (second.local / WORKFLOWS / "txt2img-basics (lesson).json").read_bytes() == b'"lesson"'
    assert names(second, "txt2img*") == {"txt2img-basics.json": '"mine"'}


def test_settings_changed_in_two_sessions_are_merged_setting_by_setting(tmp_path: Path) -> None:
    first, second = session(tmp_path, "a"), session(tmp_path, "b")
    save(first, SETTINGS, json.dumps({"Comfy.ColorPalette": "dark", "Comfy.Locale": "en"}))
    first.sync()
    save(second, SETTINGS, json.dumps({"Comfy.Sidebar.Size": "small"}))
    assert second.sync().merged == [SETTINGS]
    assert json.loads(shared(second, SETTINGS)) == {
        "Comfy.ColorPalette": "dark",
        "Comfy.Locale": "en",
        "Comfy.Sidebar.Size": "small",
    }
    assert json.loads((second.local / SETTINGS).read_text()) == json.loads(shared(second, SETTINGS))
    assert merge_settings(b'{"a": 1, "b": 2}', b'{"a": 1}', b'{"a": 3, "b": 2}') == b'{\n    "a": 3\n}'


def test_settings_caught_mid_write_are_never_merged_into_nothing(tmp_path: Path) -> None:
    first, second = session(tmp_path, "a"), session(tmp_path, "b")
    save(first, SETTINGS, json.dumps({"Comfy.ColorPalette": "dark", "Comfy.Locale": "en"}))
    first.sync()
    second.sync()
    save(first, SETTINGS, json.dumps({"Comfy.ColorPalette": "light", "Comfy.Locale": "en"}))
    first.sync()
    save(second, SETTINGS, '{"Comfy.ColorPalette": "dark", "Comfy.Lo')  # ComfyUI rewriting it in place
    done = second.sync()
    assert done.merged == [] and done.waiting == [SETTINGS]
    assert json.loads(shared(second, SETTINGS)) == {"Comfy.ColorPalette": "light", "Comfy.Locale": "en"}
    assert merge_settings(b'{"a": 1}', b'{"a": ', b'{"a": 2}') is None


def test_the_last_sync_keeps_a_file_that_never_read_as_json(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    save(first, f"{WORKFLOWS}/notes.json", "not json at all")
    assert first.sync().waiting == [f"{WORKFLOWS}/notes.json"]
    assert first.sync(final=True).sent == [f"{WORKFLOWS}/notes.json"]  # ComfyUI has stopped: it stays as it is
    assert shared(first, f"{WORKFLOWS}/notes.json") == "not json at all"


def test_a_file_deleted_in_a_session_moves_to_deleted(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    save(first, f"{WORKFLOWS}/old.json", '"old"')
    first.sync()
    second = session(tmp_path, "b")
    (second.local / WORKFLOWS / "old.json").unlink()  # the Workflows panel's Delete
    assert second.sync().deleted == [f"{WORKFLOWS}/old.json"]
    assert not (second.student.user / WORKFLOWS / "old.json").exists()
    kept = list(second.student.deleted.rglob("old.json"))
    assert [p.read_text() for p in kept] == ['"old"']
    first.sync()  # and it leaves the other session's panel too
    assert not (first.local / WORKFLOWS / "old.json").exists()


def test_the_database_stays_with_the_session(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    save(first, "comfyui.db", "sqlite")
    save(first, "comfyui.db-journal", "journal")
    first.sync()
    assert not list(first.student.user.glob("comfyui.db*"))


def test_a_lock_left_by_a_killed_job_is_taken_over_and_a_held_one_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = session(tmp_path, "a")
    first.student.lock.write_text("gone 1\n")
    os.utime(first.student.lock, (0, 0))  # a lock from long ago: its job was killed mid-sync
    first.sync()
    assert not first.student.lock.exists()
    monkeypatch.setattr("atelier.files.LOCK_WAIT", 0.2)
    with Lock(first.student.lock):
        with pytest.raises(AtelierError) as refused:
            first.sync()
    assert refused.value.code == "user-folder-locked"
    held = Lock(first.student.lock).__enter__()
    Lock(first.student.lock).__exit__()  # a holder that is not this one removes nothing
    assert first.student.lock.read_text() == held.token
    held.__exit__()
    assert not first.student.lock.exists()


def _saves(root: str, name: str, count: int, started: object) -> None:
    """One session: save `count` workflows and a setting each time, syncing after every save."""
    copy = SessionCopy(StudentFolder(Path(root)), Path(root).parent / name / "user", f"session {name}")
    copy.seed()
    started.wait(60)  # both sessions are open before either saves
    for n in range(count):
        save(copy, f"{WORKFLOWS}/{name}-{n}.json", json.dumps({"n": n, "by": name, "pad": "x" * 20_000}))
        save(copy, f"{WORKFLOWS}/shared.json", json.dumps({"by": name, "n": n}))
        settings = copy.local / SETTINGS
        current = json.loads(settings.read_text()) if settings.exists() else {}
        save(copy, SETTINGS, json.dumps({**current, f"{name}.saves": n}))
        copy.sync()
    copy.sync()


def test_two_sessions_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "home" / "atelier-comfyui"
    StudentFolder(root).make()
    count = 100
    context = multiprocessing.get_context("spawn")
    started = context.Barrier(2)
    workers = [context.Process(target=_saves, args=(str(root), name, count, started)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    folder = root / "user" / WORKFLOWS
    for name in ("a", "b"):
        for n in range(count):  # every workflow, whole
            assert json.loads((folder / f"{name}-{n}.json").read_text())["n"] == n
    settings = json.loads((root / "user" / SETTINGS).read_text())
    assert settings == {"a.saves": count - 1, "b.saves": count - 1}
    # The file both saved: each session's last save is kept, under its name or the second one.
    versions = [json.loads(p.read_text()) for p in folder.glob("shared*.json")]
    assert {"by": "a", "n": count - 1} in versions and {"by": "b", "n": count - 1} in versions
    assert not list(root.rglob(".*.tmp")) and not (root / ".sync-lock").exists()


def test_a_file_is_never_seen_half_written(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    write_whole(path, b"a" * 1_000_000)
    assert path.read_bytes() == b"a" * 1_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["w.json"]


def test_a_workflow_comfyui_is_still_writing_waits_for_the_next_sync(tmp_path: Path) -> None:
    first = session(tmp_path, "a")
    save(first, f"{WORKFLOWS}/big.json", '{"nodes": [1, 2,')  # ComfyUI writes in place: caught mid-write
    assert first.sync().sent == []
    assert not (first.student.user / WORKFLOWS / "big.json").exists()
    save(first, f"{WORKFLOWS}/big.json", '{"nodes": [1, 2, 3]}')
    assert first.sync().sent == [f"{WORKFLOWS}/big.json"]
