"""Reading the project's YAML and JSON files with errors that name the file and line, and writing
files whole."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import yaml

from atelier.messages import AtelierError


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise AtelierError(
            "yaml-malformed",
            file=path,
            line=mark.line + 1 if mark else "?",
            problem=getattr(err, "problem", None) or "unreadable",
        ) from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AtelierError("json-malformed", file=path, line=err.lineno, column=err.colno, problem=err.msg) from None


def write_whole(path: Path, data: bytes) -> None:
    """Write beside, then rename: readers (another session, a backup) never see half a file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
