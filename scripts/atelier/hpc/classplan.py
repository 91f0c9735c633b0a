"""A class on the cluster's GPUs: how many cards or shares a class takes at once, how long the rest wait
when fewer are free, and the GPU-hours of one meeting and of a semester.

One source for the rule every figure follows: a session holds its card (or its share of one) from
start to end, for its hours rounded up from the lesson's minutes; a card holds `per_gpu` sessions of a
share, one of a whole-GPU choice. `atelier class plan` prints these figures for one lesson, and Teach →
Planning GPU time is generated from them. Every figure that depends on how fast sessions run side by side
on one card comes from a recorded run of benchmarks/shared_gpu.py (docs/benchmarks/shared/) where
there is one, and is marked estimated where there is none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any

from atelier.hpc.profiles import Gpu, Profile, too_small
from atelier.lessons.modules import Module
from atelier.messages import AtelierError

SHARED_RECORDS = Path("docs/benchmarks/shared")  # in the project: benchmarks/shared_gpu.py's JSON, one file a run


@dataclass(frozen=True)
class Cost:
    """What one student's session for one lesson books."""

    teaching: int
    exercises: int
    memory_gb: float

    @property
    def minutes(self) -> int:
        return self.teaching + self.exercises

    @property
    def hours(self) -> int:
        """The form asks for whole hours (at least 1), so the lesson's minutes are rounded up."""
        return max(1, ceil(self.minutes / 60))

    @property
    def gpu_minutes(self) -> int:
        """A session holds its GPU from start to end, busy or not."""
        return self.hours * 60


def cost(module: Module) -> Cost:
    about = module.about
    return Cost(about.minutes.teaching, about.minutes.exercises, float(about.gpu_memory_gb))


@dataclass(frozen=True)
class Measured:
    """One run of benchmarks/shared_gpu.py: N sessions side by side on one card of a profile's choice."""

    file: Path
    cluster: str
    gpu: str
    device: str
    lesson: str
    date: str
    rows: tuple[dict[str, float], ...]  # sessions, pictures_per_minute, seconds_per_picture, peak_memory_gb


def read_measured(folder: Path) -> list[Measured]:
    """Every recorded run, oldest first; a file that cannot be read is refused by name."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            rows = tuple(
                {key: float(row[key]) for key in ("sessions", "pictures_per_minute", "seconds_per_picture")}
                | {"peak_memory_gb": float(row.get("peak_memory_gb") or 0)}
                for row in data["rows"]
            )
            found.append(
                Measured(path, data["cluster"], data["gpu"], data["device"], data["lesson"], data["date"], rows)
            )
        except (ValueError, KeyError, TypeError) as err:
            raise AtelierError("bench-results-bad", file=path, detail=f"{type(err).__name__}: {err}") from None
    return found


@dataclass(frozen=True)
class ChoicePlan:
    """One GPU choice of one cluster for a class of `students` doing one lesson."""

    profile: Profile
    gpu: Gpu
    students: int
    cost: Cost
    measured: Measured | None = None

    @property
    def fits(self) -> bool:
        """The card, or share, holds the lesson; a whole card without `memory_gb` is taken to."""
        return not self.gpu.memory_gb or self.gpu.memory_gb >= self.cost.memory_gb

    @property
    def per_card(self) -> int:
        return self.gpu.per_gpu

    @property
    def cards(self) -> int:
        """Cards the whole class holds at once."""
        return ceil(self.students / self.per_card)

    @property
    def gpu_hours(self) -> float:
        """Card-hours one meeting books: every session's hours, a share counted as its part of a card."""
        return self.students * self.cost.hours / self.per_card

    def waiting(self, free_cards: int) -> tuple[int, int]:
        """With only `free_cards` cards free: (students who wait, hours the last of them waits)."""
        room = max(0, free_cards) * self.per_card
        if room >= self.students:
            return 0, 0
        if room == 0:
            return self.students, 0  # nothing starts: no wait can be given
        rounds = ceil(self.students / room)
        return self.students - room, (rounds - 1) * self.cost.hours

    def slower(self) -> str:
        """The slowdown in words, marked measured or estimated; a whole card has nobody to share with."""
        if self.per_card == 1:
            return "alone on its card"
        factor, measured = self.slowdown
        return f"{factor:.1f}× slower ({'measured' if measured else 'estimated'})"

    @property
    def slowdown(self) -> tuple[float, bool]:
        """How much longer a picture takes when a card's sessions all run at once: (factor, measured).

        Without a recorded run, estimated as the card's time split evenly between its sessions.
        """
        if self.measured:
            rows = {int(r["sessions"]): r for r in self.measured.rows}
            alone, full = rows.get(1), rows.get(self.per_card)
            if alone and full and alone["seconds_per_picture"]:
                return full["seconds_per_picture"] / alone["seconds_per_picture"], True
        return float(self.per_card), False


def plan(
    profiles: Iterable[Profile], module: Module, students: int, measured: list[Measured] | None = None
) -> list[ChoicePlan]:
    """Every GPU choice of every profile (CPU-only choices left out) for `students` doing `module`."""
    if students < 1:
        raise AtelierError("class-size", students=students)
    records = measured or []
    plans = []
    for profile in profiles:
        for gpu in profile.gpus.values():
            if gpu.gres is None:
                continue
            card = gpu.of or gpu.name
            record = next((m for m in reversed(records) if (m.cluster, m.gpu) == (profile.name, card)), None)
            plans.append(ChoicePlan(profile, gpu, students, cost(module), record))
    return plans


def hours_text(hours: float, rate: float | None) -> str:
    """GPU-hours as the plan shows them (22.5, 20), with their cost where the profile gives a rate."""
    text = f"{hours:,.1f}".removesuffix(".0")
    return text if rate is None else f"{text} (cost {hours * rate:,.2f})"


def semester_hours(choice: ChoicePlan, weeks: list[tuple[Module, ...]]) -> float:
    """Card-hours of a semester's lesson weeks for the class on `choice`: a week whose lessons do not fit
    a share is booked on the share's whole card instead. Lessons of one week share one session."""
    whole = choice.profile.gpus.get(choice.gpu.of or "")
    total = 0.0
    for modules in weeks:
        if not modules:
            continue
        minutes = sum(cost(m).minutes for m in modules)
        hours = max(1, ceil(minutes / 60))
        memory = max(cost(m).memory_gb for m in modules)
        on = choice.gpu if not too_small(choice.gpu, memory) or whole is None else whole
        total += choice.students * hours / on.per_gpu
    return total
