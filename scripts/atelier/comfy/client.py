"""Talking to a running ComfyUI: HTTP for requests, the WebSocket for progress.

The HTTP side is the standard library (a handful of JSON calls and one upload); the
WebSocket uses websocket-client, already pinned through comfy-cli. Any failure to
connect becomes one plain message naming the server.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websocket

from atelier.comfy.extensions import atelier_gate as gate
from atelier.messages import AtelierError


class Rejected(Exception):
    """ComfyUI answered 400 to a prompt; `details` is its JSON body."""

    def __init__(self, details: dict[str, Any]) -> None:
        super().__init__(details.get("error", {}).get("message", "rejected"))
        self.details = details


class ComfyClient:
    """A ComfyUI server at `base_url`, e.g. http://127.0.0.1:8188."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex
        # Behind the login gate, requests carry the cookie the gate gives after login.
        self.headers = {"Cookie": f"{gate.COOKIE}={gate.session_cookie(token)}"} if token else {}

    def _open(self, request: urllib.request.Request | str) -> Any:
        if isinstance(request, str):
            request = urllib.request.Request(request)
        for name, value in self.headers.items():
            request.add_header(name, value)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            raise AtelierError("server-unreachable", url=self.base_url) from err

    def get_json(self, path: str) -> Any:
        try:
            with self._open(f"{self.base_url}{path}") as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            if err.code == 403:
                raise AtelierError("gate-refused", url=self.base_url) from None
            raise AtelierError("server-unreachable", url=self.base_url) from err

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with self._open(request) as response:
                answer = response.read()
                return json.loads(answer) if answer.strip() else {}  # /interrupt answers with nothing
        except urllib.error.HTTPError as err:
            if err.code == 400:
                raise Rejected(json.loads(err.read() or b"{}")) from None
            raise AtelierError("server-unreachable", url=self.base_url) from err

    def submit(self, prompt: dict[str, Any], workflow: dict[str, Any] | None = None) -> str:
        """Queue an API prompt; the UI workflow rides along so outputs carry it in their metadata."""
        extra = {"extra_pnginfo": {"workflow": workflow}} if workflow else {}
        answer = self.post_json("/prompt", {"prompt": prompt, "client_id": self.client_id, "extra_data": extra})
        return str(answer["prompt_id"])

    def upload(self, path: Path) -> str:
        """Put a file into ComfyUI's input folder (overwriting a same-named one)."""
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n'.encode(),
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode(),
                path.read_bytes(),
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        request = urllib.request.Request(
            f"{self.base_url}/upload/image",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with self._open(request) as response:
            return str(json.load(response)["name"])

    def history(self, prompt_id: str) -> dict[str, Any]:
        return self.get_json(f"/history/{prompt_id}").get(prompt_id, {})

    def download(self, item: dict[str, Any], folder: Path) -> Path:
        """Fetch one output file (an entry of a node's output list) into `folder`."""
        query = urllib.parse.urlencode({k: item.get(k, "") for k in ("filename", "subfolder", "type")})
        target = folder / item.get("subfolder", "") / item["filename"]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with self._open(f"{self.base_url}/view?{query}") as response, partial.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        partial.replace(target)  # a file is either whole or absent
        return target

    def events(self, poll: float = 1.0) -> EventStream:
        """Open the WebSocket first, then submit, so no message is missed."""
        return EventStream(self, poll)


class EventStream:
    """(type, data) messages from ComfyUI's WebSocket; binary previews are skipped.

    Yields ("idle", {}) every `poll` seconds without a message, so the caller can check
    its own time limit, and ("closed", {}) once if the server goes away.
    """

    def __init__(self, client: ComfyClient, poll: float) -> None:
        url = client.base_url.replace("http", "ws", 1) + f"/ws?clientId={client.client_id}"
        try:
            self.connection = websocket.create_connection(url, timeout=poll, header=client.headers)
        except (OSError, websocket.WebSocketException) as err:
            raise AtelierError("server-unreachable", url=client.base_url) from err

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        while True:
            try:
                message = self.connection.recv()
            except websocket.WebSocketTimeoutException:
                yield "idle", {}
                continue
            except (OSError, websocket.WebSocketException):
                yield "closed", {}
                return
            if isinstance(message, str) and message:
                data = json.loads(message)
                yield data.get("type", ""), data.get("data", {})

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
