"""Talking to a running ComfyUI over HTTP.

Kept to the standard library: the few calls we make (read JSON, post JSON) need no
client framework, and a failure to connect becomes one plain message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from atelier.messages import AtelierError


class ComfyClient:
    """A ComfyUI server at `base_url`, e.g. http://127.0.0.1:8188."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def get_json(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(f"{self.base_url}{path}", timeout=self.timeout) as response:
                return json.load(response)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            raise AtelierError("server-unreachable", url=self.base_url) from err
