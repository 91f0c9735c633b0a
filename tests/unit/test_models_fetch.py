"""`atelier models fetch` against a real HTTP server on 127.0.0.1 that speaks Range."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.hpc.store import ModelFile, fetch, import_files
from atelier.messages import AtelierError

ATELIER = str(Path(sys.executable).parent / "atelier")
BLOB = bytes(range(256)) * 20_000  # 5 MB
SHA = hashlib.sha256(BLOB).hexdigest()


class Files(http.server.BaseHTTPRequestHandler):
    """Serves BLOB at any path; can drop the connection part-way once, like a flaky link."""

    cut_after: int | None = None
    requests: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _range(self) -> int:
        header = self.headers.get("Range", "")
        return int(header.removeprefix("bytes=").split("-")[0]) if header.startswith("bytes=") else 0

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BLOB)))
        self.end_headers()

    def do_GET(self) -> None:
        start = self._range()
        type(self).requests.append(self.headers.get("Range", "whole"))
        body = BLOB[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}")
        self.end_headers()
        if type(self).cut_after is not None:
            self.wfile.write(body[: type(self).cut_after])
            type(self).cut_after = None
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    Files.cut_after, Files.requests = None, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def model(url: str, sha: str | None = SHA) -> ModelFile:
    return ModelFile("model.safetensors", f"{url}/model.safetensors", "checkpoints", sha)


def test_download_verifies_and_moves_into_place(server: str, tmp_path: Path) -> None:
    assert fetch([model(server)], tmp_path) == {"model.safetensors": "downloaded"}
    target = tmp_path / "checkpoints" / "model.safetensors"
    assert target.read_bytes() == BLOB
    assert not (tmp_path / "checkpoints" / "model.safetensors.part").exists()
    assert fetch([model(server)], tmp_path) == {"model.safetensors": "verified"}
    assert Files.requests == ["whole"], "a verified file is not downloaded or hashed again"


def test_an_interrupted_download_resumes(server: str, tmp_path: Path) -> None:
    Files.cut_after = 1_000_000
    with pytest.raises(AtelierError) as err:
        fetch([model(server)], tmp_path)
    assert err.value.code == "models-download-failed"
    partial = tmp_path / "checkpoints" / "model.safetensors.part"
    assert partial.stat().st_size == 1_000_000
    assert not (tmp_path / "checkpoints" / "model.safetensors").exists(), "nothing unverified in place"
    assert fetch([model(server)], tmp_path) == {"model.safetensors": "downloaded"}
    assert Files.requests == ["whole", "bytes=1000000-"]
    assert (tmp_path / "checkpoints" / "model.safetensors").read_bytes() == BLOB


def test_a_hash_mismatch_is_refused_and_the_partial_removed(server: str, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(AtelierError) as err:
        fetch([model(server, wrong)], tmp_path)
    assert str(err.value) == (
        f"model.safetensors did not match its published sha256: expected {wrong}, got {SHA}. The partial file was "
        "removed; run the command again, and if it repeats, check the URL in the workflow."
    )
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_too_little_space_is_refused_before_downloading(server: str, tmp_path: Path) -> None:
    with pytest.raises(AtelierError) as err:
        fetch([model(server)], tmp_path, free_bytes=lambda path: 1_000_000)
    assert err.value.code == "models-no-space"
    assert err.value.text == f"The model store {tmp_path} has 0.0 GB free, but the downloads need 0.0 GB."
    assert Files.requests == [], "not one byte fetched"


def mini_project(server: str, tmp_path: Path) -> Path:
    """A project at tmp_path/project with one module, mini, whose workflow loads model.safetensors from `server`."""
    root = tmp_path / "project" / "workflows" / "mini"
    root.mkdir(parents=True)
    workflow = (
        '{"nodes": [{"id": 1, "type": "CheckpointLoaderSimple", "properties": {"models": [{"name": '
        f'"model.safetensors", "url": "{server}/m", "directory": "checkpoints", "hash": "{SHA}", '
        '"hash_type": "SHA256"}]}, "widgets_values": ["model.safetensors"]}], "links": []}'
    )
    (root / "workflow.json").write_text(workflow)
    (root / "module.yaml").write_text("title: Mini\n")
    shutil.copy(Path(__file__).resolve().parents[2] / "workflows" / "pin.yaml", root.parent / "pin.yaml")  # a project
    return root.parent.parent


def test_cli_fetches_a_modules_models(server: str, tmp_path: Path) -> None:
    mini_project(server, tmp_path)
    result = subprocess.run(
        [ATELIER, "models", "fetch", "--module", "mini", "--store", str(tmp_path / "store")],
        cwd=tmp_path / "project",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "downloaded  model.safetensors\n"
    assert (tmp_path / "store" / "checkpoints" / "model.safetensors").read_bytes() == BLOB


def test_verify_reads_every_file_again_and_moves_a_changed_one_aside(server: str, tmp_path: Path) -> None:
    """A file changed in place with its time kept passes fetch's quick check; verify reads it and finds it."""
    import os

    from atelier.hpc.store import verify

    fetch([model(server)], tmp_path)
    target = tmp_path / "checkpoints" / "model.safetensors"
    stat = target.stat()
    with target.open("r+b") as stream:  # one byte flipped, size and time kept: bit rot, or a bad restore
        stream.seek(1000)
        stream.write(bytes([BLOB[1000] ^ 1]))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fetch([model(server)], tmp_path) == {"model.safetensors": "verified"}  # the record alone is trusted there
    [verdict] = verify([model(server)], tmp_path)
    assert verdict.outcome == "changed" and verdict.got != SHA
    assert not target.exists(), "a changed file is out of ComfyUI's sight"
    assert verdict.moved and verdict.moved.read_bytes()[1000] == BLOB[1000] ^ 1, "and kept, not deleted"
    assert verdict.moved.is_relative_to(tmp_path / ".changed")
    assert fetch([model(server)], tmp_path) == {"model.safetensors": "downloaded"}  # the record forgot it
    assert [v.outcome for v in verify([model(server)], tmp_path)] == ["verified"]


def test_cli_verify_names_missing_and_changed_files_and_fails(server: str, tmp_path: Path) -> None:
    mini_project(server, tmp_path)
    store = tmp_path / "store"
    verify_command = [ATELIER, "models", "verify", "--store", str(store)]
    missing = subprocess.run(verify_command, cwd=tmp_path / "project", capture_output=True, text=True)
    assert missing.returncode == 1
    assert f"error: {store / 'checkpoints' / 'model.safetensors'} is not in the store." in missing.stderr
    assert "1 of 1 model files in" in missing.stderr
    fetch([model(server)], store)
    good = subprocess.run(verify_command, cwd=tmp_path / "project", capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert good.stdout == f"  verified  model.safetensors\nAll 1 model files in {store} are as published.\n"
    (store / "checkpoints" / "model.safetensors").write_bytes(b"not the model")
    changed = subprocess.run(verify_command, cwd=tmp_path / "project", capture_output=True, text=True)
    assert changed.returncode == 1
    assert "does not match its published sha256" in changed.stderr and "/.changed/" in changed.stderr


def test_a_publisher_out_of_reach_is_named_before_any_download(tmp_path: Path) -> None:
    """The size is asked first: a host that cannot reach the publisher is told to import instead."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(AtelierError) as err:
        fetch([model(closed)], tmp_path)
    assert err.value.code == "models-size-failed"
    assert str(err.value).startswith(f"Asking {closed}/model.safetensors for the size of model.safetensors failed (")
    assert "nothing was downloaded" in str(err.value) and "atelier models import FOLDER" in err.value.hint
    assert not (tmp_path / "checkpoints").exists()


def test_import_copies_a_verified_file_and_refuses_a_changed_one(tmp_path: Path) -> None:
    carried = tmp_path / "carried" / "from-the-laptop"
    carried.mkdir(parents=True)
    (carried / "model.safetensors").write_bytes(BLOB)
    store = tmp_path / "store"
    assert import_files([model("http://127.0.0.1:9")], tmp_path / "carried", store) == {"model.safetensors": "imported"}
    assert (store / "checkpoints" / "model.safetensors").read_bytes() == BLOB
    assert fetch([model("http://127.0.0.1:9")], store) == {"model.safetensors": "verified"}  # no request made
    (carried / "model.safetensors").write_bytes(b"not the model")
    with pytest.raises(AtelierError) as err:
        import_files([model("http://127.0.0.1:9")], tmp_path / "carried", tmp_path / "other")
    assert err.value.code == "models-import-mismatch"
    assert list((tmp_path / "other" / "checkpoints").iterdir()) == []


def test_cli_import_names_what_it_did_not_find(server: str, tmp_path: Path) -> None:
    mini_project(server, tmp_path)
    (tmp_path / "empty").mkdir()
    store = tmp_path / "store"
    missing = subprocess.run(
        [ATELIER, "models", "import", str(tmp_path / "empty"), "--store", str(store)],
        cwd=tmp_path / "project",
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1
    assert missing.stdout == " not found  model.safetensors\n"
    assert f"Error: 1 of 1 model files were not found in {tmp_path / 'empty'}." in missing.stderr
    (tmp_path / "empty" / "model.safetensors").write_bytes(BLOB)
    done = subprocess.run(
        [ATELIER, "models", "import", str(tmp_path / "empty"), "--store", str(store)],
        cwd=tmp_path / "project",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"  imported  model.safetensors\nAll 1 model files are in {store}.\n"
