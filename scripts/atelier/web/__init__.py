"""Pages a browser opens outside ComfyUI: the dashboard's Box app (box.py) and Class wall app (classwall.py)."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from atelier.messages import AtelierError

Answer = TypeVar("Answer")


def answered(
    environ: dict[str, Any],
    answer: Callable[[], tuple[str, list[tuple[str, str]], Answer]],
    trouble: Callable[[AtelierError], str],
    failed: Callable[[str], AtelierError],
    statuses: dict[str, str],
    otherwise: str,
) -> tuple[str, list[tuple[str, str]], Answer | str]:
    """The page `answer` makes, or the message list's sentence in its place: a known problem with its own
    status (`otherwise` when it has none), a bug of ours as `failed` names it, its traceback to the server's log."""
    try:
        return answer()
    except AtelierError as error:
        return statuses.get(error.code, otherwise), [], trouble(error)
    except Exception as error:  # a bug of ours: one plain sentence; the traceback to the server's log
        traceback.print_exception(error, file=environ["wsgi.errors"])
        bug = failed(type(error).__name__)
        return statuses[bug.code], [], trouble(bug)
