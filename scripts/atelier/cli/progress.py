"""The progress bar of a command that works through steps (install's steps, a run's nodes).

On stderr, so stdout keeps what the command makes; gone when the steps are done, so what
stays on the terminal is the command's own summary.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


def step_progress() -> Progress:
    """A spinner, the step now running, a bar of steps done out of all, and the time so far."""
    step = TextColumn("{task.description}")
    columns = [SpinnerColumn(), step, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    return Progress(*columns, console=Console(stderr=True), transient=True)
