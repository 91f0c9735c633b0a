"""Free-space notices in the page: the catalogue's sentences, for the folders a session writes to.

The extension runs inside ComfyUI (tests/comfyui/test_full_outputs.py starts it for real);
here its parts run on their own: the sentences it is handed, the folders it measures, and
which of ComfyUI's messages it follows with a notice.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atelier.comfy.extensions import atelier_space as space
from atelier.comfy.server import ComfyServer
from atelier.messages import AtelierError
from tests.fulldisk import small_disk

ENOSPC_ERROR = {
    "prompt_id": "p1",
    "node_id": "7",
    "node_type": "SaveImage",
    "exception_type": "OSError",
    "exception_message": "[Errno 28] No space left on device",
}


def watch(tmp_path: Path, folders: list[Path] | None = None) -> space.Watch:
    env = ComfyServer(tmp_path, Path("python3"), tmp_path / "session", outputs=tmp_path / "out").space_env()
    titles = {("p1", "7"): "Save Image"}
    return space.Watch(
        folders or [tmp_path],
        env["ATELIER_FOLDER_LOW"],
        env["ATELIER_FOLDER_FULL"],
        lambda prompt, node: titles.get((prompt, node)),
    )


def test_serve_names_the_outputs_user_and_upload_folders(tmp_path: Path) -> None:
    server = ComfyServer(tmp_path, Path("python3"), tmp_path / "session", outputs=tmp_path / "out")
    folders = server.space_env()["ATELIER_SPACE_FOLDERS"].split(os.pathsep)
    assert folders == [str(server.output_dir), str(server.user_folder), str(server.input_folder)]
    assert "atelier_space" in server.command()


def test_a_save_that_found_the_folder_full_is_the_catalogue_s_sentence(tmp_path: Path) -> None:
    sent = []
    send = watch(tmp_path).wrap(lambda event, data, sid=None: sent.append((event, data, sid)))
    send("execution_error", ENOSPC_ERROR, "student")
    assert sent == [
        ("execution_error", ENOSPC_ERROR, "student"),  # ComfyUI's own message goes first, unchanged
        (
            space.EVENT,
            {"severity": "error", "text": str(AtelierError("folder-full", node="7", title="Save Image"))},
            "student",
        ),
    ]
    assert sent[1][1]["text"] == (
        "Your outputs folder is full: the picture from node 7 'Save Image' could not be "
        "saved. Delete old pictures in the dashboard's Files app (download the ones you "
        "want to keep first), then run again."
    )


@pytest.mark.parametrize(
    "message", ["[Errno 122] Disk quota exceeded: '/home/ana/out/a.png'", "No space left on device"]
)
def test_a_full_quota_reads_the_same(tmp_path: Path, message: str) -> None:
    notices = watch(tmp_path).after("execution_error", {**ENOSPC_ERROR, "exception_message": message})
    assert [n["severity"] for n in notices] == ["error"]


def test_other_failures_and_messages_add_nothing(tmp_path: Path) -> None:
    other = {**ENOSPC_ERROR, "exception_type": "RuntimeError", "exception_message": "shapes cannot be multiplied"}
    assert watch(tmp_path).after("execution_error", other) == []
    assert watch(tmp_path).after("executing", {"node": "7"}) == []


def test_a_title_not_found_falls_back_to_the_node_s_type(tmp_path: Path) -> None:
    notice = watch(tmp_path).after("execution_error", {**ENOSPC_ERROR, "prompt_id": "gone"})[0]
    assert "node 7 'SaveImage'" in notice["text"]


def test_a_folder_with_room_says_nothing_and_one_notice_per_file_system(tmp_path: Path) -> None:
    template = str(AtelierError("folder-low", free="{free}", folder="{folder}"))
    (tmp_path / "out").mkdir()
    assert space.low_notices([tmp_path, tmp_path / "out"], template, low=0) == []
    said = space.low_notices([tmp_path / "missing", tmp_path, tmp_path / "out"], template, low=1 << 60)
    assert len(said) == 1 and said[0].startswith("Only ") and f" is left in {tmp_path}, " in said[0]


def test_sizes_read_as_a_student_reads_them() -> None:
    assert [space.size(n) for n in (0, 4096, 120 * 1024**2, 3.5 * 1024**3)] == ["0 bytes", "4 KB", "120 MB", "3.5 GB"]


def test_a_full_folder_is_low_when_a_prompt_starts(tmp_path: Path) -> None:
    with small_disk(tmp_path / "home") as home:
        (home / "filler").write_bytes(b"\0" * 200 * 1024)
        notices = watch(tmp_path, [home]).after("execution_start", {"prompt_id": "p1"})
    assert notices == [{"severity": "warn", "text": str(AtelierError("folder-low", free="56 KB", folder=home))}]


def test_the_extension_installs_nothing_outside_comfyui() -> None:
    assert space.NODE_CLASS_MAPPINGS == {} and space.WEB_DIRECTORY == "web"
    script = (Path(space.__file__).parent / "web" / "space.js").read_text(encoding="utf-8")
    assert f'"{space.EVENT}"' in script and f'api.fetchApi("{space.ROUTE}")' in script
    assert "toast.add" in script
