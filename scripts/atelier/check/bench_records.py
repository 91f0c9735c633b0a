"""The file `atelier bench --json` writes, as records: bench.py makes them, the CLI prints them
and the benchmarks page reads them.

The files in docs/benchmarks/ are published data, so the format is written down once, here:
`to_json` gives the keys in the order, and with the nulls, that the first files have, and
`from_json` reads every one of them back, or names the file and the field that is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.messages import AtelierError

SCHEMA = 1


def bad_file(path: Path, detail: str) -> AtelierError:
    """A results or reference file that cannot be read, and why."""
    return AtelierError("bench-results-bad", file=path, detail=detail)


def _fields(data: Any) -> dict[str, Any]:
    """A part the page only shows (machine, device, versions): what it has, without a crash where it is not
    a mapping."""
    return data if isinstance(data, dict) else {}


def _lacks(data: Any, keys: tuple[str, ...]) -> str | None:
    """The first of `keys` that `data` does not have (every one, where it is not a mapping)."""
    return next((key for key in keys if not isinstance(data, dict) or key not in data), None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float))


@dataclass(frozen=True)
class Machine:
    """The host: the row's hardware for a CPU or a Mac run (a GPU's name comes from ComfyUI)."""

    cpu: str | None
    cores: int | None
    system: str | None

    def to_json(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "cores": self.cores, "system": self.system}

    @classmethod
    def from_json(cls, data: Any) -> Machine:
        found = _fields(data)
        return cls(found.get("cpu"), found.get("cores"), found.get("system"))


@dataclass(frozen=True)
class Device:
    """What ComfyUI ran on, as it reports it: cuda, mps or cpu, the card's name, its memory."""

    type: str | None
    name: str | None
    memory_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "memory_bytes": self.memory_bytes}

    @classmethod
    def from_json(cls, data: Any) -> Device:
        found = _fields(data)
        return cls(found.get("type"), found.get("name"), found.get("memory_bytes"))


@dataclass(frozen=True)
class Versions:
    """The software the figures hold for: a new ComfyUI or PyTorch can change them."""

    comfyui: str | None
    torch: str | None
    python: str | None
    atelier: str | None

    def to_json(self) -> dict[str, Any]:
        return {"comfyui": self.comfyui, "torch": self.torch, "python": self.python, "atelier": self.atelier}

    @classmethod
    def from_json(cls, data: Any) -> Versions:
        found = _fields(data)
        return cls(found.get("comfyui"), found.get("torch"), found.get("python"), found.get("atelier"))


@dataclass(frozen=True)
class ModelFile:
    """A model a workload loaded: 'real' weights, or 'random (full)' / 'random (tiny)' ones made for the bench."""

    name: str
    weights: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "weights": self.weights}


@dataclass(frozen=True)
class Figures:
    """A measured workload: the first picture, the medians of the repeats after it, memory peaks."""

    first_image_s: float | None
    seconds_per_image: float | None
    model_load_s: float | None  # what the first picture took beyond the others
    iterations_per_second: float | None
    repeat: int | None
    runs_s: tuple[float, ...]  # every repeat, so a study can tell a real gain from noise
    peak_gpu_bytes: int | None = None
    peak_host_bytes: int | None = None  # the ComfyUI process's largest resident memory

    def to_json(self) -> dict[str, Any]:
        return {
            "first_image_s": self.first_image_s,
            "seconds_per_image": self.seconds_per_image,
            "model_load_s": self.model_load_s,
            "iterations_per_second": self.iterations_per_second,
            "repeat": self.repeat,
            "runs_s": list(self.runs_s),
            "peak_gpu_bytes": self.peak_gpu_bytes,
            "peak_host_bytes": self.peak_host_bytes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figures:
        return cls(
            data.get("first_image_s"),
            data["seconds_per_image"],
            data.get("model_load_s"),
            data.get("iterations_per_second"),
            data.get("repeat"),
            tuple(data.get("runs_s") or ()),
            data.get("peak_gpu_bytes"),
            data.get("peak_host_bytes"),
        )


@dataclass(frozen=True)
class WorkloadResult:
    """One workload on one ComfyUI: where it ran at, on which models, and its figures or why there are none."""

    name: str
    lesson: str
    about: str | None
    width: int | None  # None: as the lesson has it
    height: int | None
    steps: int | None
    models: tuple[ModelFile, ...]
    status: str  # measured, skipped (its models are missing) or failed (out of memory, a node failed)
    reason: str | None = None  # why it was skipped or failed
    figures: Figures | None = None  # where measured

    @property
    def measured(self) -> bool:
        return self.status == "measured"

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "lesson": self.lesson,
            "about": self.about,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "models": [m.to_json() for m in self.models],
            "status": self.status,
        }
        if self.reason is not None:
            data["reason"] = self.reason
        return {**data, **(self.figures.to_json() if self.figures else {})}

    @classmethod
    def from_json(cls, data: Any, path: Path, where: str) -> WorkloadResult:
        if missing := _lacks(data, ("name", "lesson", "status", "models")):
            raise bad_file(path, f"{where} has no {missing}")
        if any(not isinstance(m, dict) or "weights" not in m for m in data["models"]):
            raise bad_file(path, f"{where} ({data['name']}) has a model without weights")
        measured = data["status"] == "measured"
        if measured and not _number(data.get("seconds_per_image")):
            raise bad_file(path, f"{where} ({data['name']}) has no seconds_per_image")
        return cls(
            data["name"],
            data["lesson"],
            data.get("about"),
            data.get("width"),
            data.get("height"),
            data.get("steps"),
            tuple(ModelFile(m.get("name", ""), m["weights"]) for m in data["models"]),
            data["status"],
            data.get("reason"),
            Figures.from_json(data) if measured else None,
        )


@dataclass(frozen=True)
class Run:
    """One ComfyUI started with `flags`: how long it took to start, its device, every workload measured on it.

    Where it did not start, or stopped working, `failed` says why; it keeps what it had got to.
    """

    flags: tuple[str, ...]
    workloads: tuple[WorkloadResult, ...] = ()
    cold_start_s: float | None = None
    device: Device | None = None
    versions: Versions | None = None
    failed: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"flags": list(self.flags), "workloads": [w.to_json() for w in self.workloads]}
        if self.cold_start_s is not None:
            data["cold_start_s"] = self.cold_start_s
        if self.device is not None:
            data["device"] = self.device.to_json()
        if self.versions is not None:
            data["versions"] = self.versions.to_json()
        if self.failed is not None:
            data["failed"] = self.failed
        return data

    @classmethod
    def from_json(cls, data: Any, path: Path, where: str) -> Run:
        """A run whose ComfyUI started (BenchResult.from_json leaves the others out)."""
        if missing := _lacks(data, ("flags", "device", "versions", "workloads", "cold_start_s")):
            raise bad_file(path, f"{where} has no {missing}")
        if not _number(data["cold_start_s"]):
            raise bad_file(path, f"{where}.cold_start_s is not a number")
        workloads = tuple(
            WorkloadResult.from_json(entry, path, f"{where}.workloads[{number}]")
            for number, entry in enumerate(data["workloads"])
        )
        return cls(
            tuple(data["flags"]),
            workloads,
            data["cold_start_s"],
            Device.from_json(data["device"]),
            Versions.from_json(data["versions"]),
        )


@dataclass(frozen=True)
class BenchResult:
    """A whole `atelier bench` file: when and where, and one run per set of ComfyUI options."""

    date: str  # ISO 8601, UTC
    machine: Machine
    repeat: int | None  # pictures measured after each first one
    runs: tuple[Run, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "atelier_bench": SCHEMA,
            "date": self.date,
            "machine": self.machine.to_json(),
            "repeat": self.repeat,
            "runs": [run.to_json() for run in self.runs],
        }

    @classmethod
    def from_json(cls, data: Any, path: Path) -> BenchResult:
        """A file as `atelier bench` writes it, or an error naming `path` and the field.

        Runs whose ComfyUI did not start (`failed`) are left out: they measured nothing.
        """
        if not isinstance(data, dict) or data.get("atelier_bench") != SCHEMA:
            raise bad_file(path, "atelier_bench is not 1")
        if missing := _lacks(data, ("date", "machine", "runs")):
            raise bad_file(path, f"it has no {missing}")
        if not isinstance(data["date"], str) or not isinstance(data["runs"], list):
            raise bad_file(path, "date must be text and runs a list")
        runs = tuple(
            Run.from_json(run, path, f"runs[{index}]")
            for index, run in enumerate(data["runs"])
            if not (isinstance(run, dict) and "failed" in run)
        )
        return cls(data["date"], Machine.from_json(data["machine"]), data.get("repeat"), runs)
