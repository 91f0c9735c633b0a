"""Backing a folder up on a schedule: every few minutes while work goes on, once more at the end.

`atelier serve` backs a session's outputs (and the student's own ComfyUI folder of saved
workflows and settings) up while ComfyUI runs, and `atelier backup` does the same on its own. Both keep the
same promises through this one schedule: a failed round is reported and the next may work, so a passing network fault
never ends a session; and the last round also sends files still being written, since
nothing will finish them after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from atelier.keep import backup
from atelier.messages import AtelierError


@dataclass(frozen=True)
class Round:
    """What one backup round did: its result, or why it failed."""

    result: backup.Result | None
    error: AtelierError | None
    final: bool
    kept: backup.Result | None = None  # the student's ComfyUI folder, when the schedule has one


@dataclass
class Schedule:
    """Rounds of `backup.run` every `minutes`; the caller's loop asks when one is due."""

    folder: Path
    target: backup.Target
    minutes: int
    bwlimit: str | None = None  # rclone's bandwidth limit (tests slow a copy down with it)
    user_folder: Path | None = None  # the student's ComfyUI folder, backed up beside the outputs
    due: float = 0.0  # time.monotonic() of the next round: 0 means at once

    def later(self) -> Schedule:
        """Wait a whole interval before the first round (a new session has nothing to send yet)."""
        self.due = time.monotonic() + self.minutes * 60
        return self

    def is_due(self) -> bool:
        return time.monotonic() >= self.due

    def round(self, final: bool = False) -> Round:
        """One round now; the next is due a whole interval after this one ends."""
        try:
            result = backup.run(self.folder, self.target, final=final, bwlimit=self.bwlimit)
        except AtelierError as err:
            result, done = None, Round(None, err, final)
        if result:  # the outputs went: a failure with the ComfyUI folder is reported on its own
            try:
                kept = (
                    backup.run_folder(self.user_folder, self.target, bwlimit=self.bwlimit) if self.user_folder else None
                )
                done = Round(result, None, final, kept)
            except AtelierError as err:
                done = Round(result, err, final)
        self.due = time.monotonic() + self.minutes * 60
        return done

    def check_remote(self) -> None:
        """Raises backup-remote-unknown while this person has not connected the remote."""
        if self.target.remote not in backup.remotes():
            raise AtelierError("backup-remote-unknown", remote=self.target.remote)
