"""Lesson checks: run every module and hold its outputs to what module.yaml promises.

`--smoke` runs on generated random-weight models (any machine, even a CPU) with sampler
steps capped, to prove that every workflow still executes on the pinned ComfyUI;
`--real` runs the modules unchanged on the shared model store, on a GPU node. One
module's failure never stops the others: a crash, running out of memory or time, or a
dead server becomes that module's result, and a server we started is restarted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import psutil

from atelier.check.expect import check_outputs
from atelier.check.hardware import device_name, processor
from atelier.comfy.client import ComfyClient
from atelier.comfy.headless import capped_outputs, execute, load_job, smoke_settings
from atelier.comfy.server import ComfyServer
from atelier.keep import ledger
from atelier.lessons.meta import Output
from atelier.lessons.modules import Module
from atelier.lessons.nodes import NodeList
from atelier.messages import AtelierError


@dataclass
class ModuleResult:
    module: str
    title: str
    status: str  # passed, failed or skipped
    message: str = ""
    seconds: float = 0.0  # harness time, submit to outputs checked
    comfy_seconds: float | None = None  # ComfyUI's own "Prompt executed in"
    peak_host_mb: float | None = None
    peak_gpu_mb: float | None = None
    outputs: list[str] = field(default_factory=list)


@dataclass
class Report:
    mode: str
    date: str
    hardware: dict[str, Any]
    comfyui_version: str
    results: list[ModuleResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.status != "failed" for r in self.results)


UNLOAD_PAUSE = 1.0  # seconds for ComfyUI's worker to act on /free


class Target:
    """The ComfyUI a check runs on: one we started (and restart), or one given by URL."""

    def __init__(self, url: str | None = None, server: ComfyServer | None = None, token: str | None = None) -> None:
        self.server = server
        self.url = url or (server.url if server else "")
        self._token = token

    @property
    def token(self) -> str | None:
        return self.server.token if self.server else self._token

    def client(self, timeout: float = 30.0) -> ComfyClient:
        return ComfyClient(self.url, timeout=timeout, token=self.token)

    def unload(self) -> None:
        """Empty ComfyUI's loaded models before the next module, so each starts as a session's first
        run does, its memory peak is its own, and two full-size models never share 24 GB.

        ComfyUI takes /free when its worker next wakes (at once when idle); the pause lets it.
        """
        if self.server is None:
            return  # someone else's ComfyUI: leave what it holds
        try:
            self.client(timeout=10).post_json("/free", {"unload_models": True, "free_memory": True})
        except AtelierError:
            return  # a dead server is revived after the module, as before
        time.sleep(UNLOAD_PAUSE)

    def lacks(self, node_types: set[str]) -> set[str]:
        """The node types this ComfyUI does not offer (asked one by one: /object_info/<type> is {} for none)."""
        client = self.client()
        return {name for name in node_types if name not in client.get_json(f"/object_info/{quote(name)}")}

    def revive(self) -> bool:
        """Restart our server if it died; True when it had to."""
        if self.server is None or self.server.alive():
            return False
        self.server.stop()
        self.server.start()
        self.url = self.server.url
        return True


class PeakMemory:
    """Samples the server's host memory (when it is ours) and GPU memory while a module runs."""

    def __init__(self, target: Target, interval: float = 0.25) -> None:
        self.target, self.interval = target, interval
        self.host = self.gpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        client = self.target.client(timeout=2)
        process = self.target.server.process if self.target.server else None
        while not self._stop.wait(self.interval):
            try:
                if process is not None:
                    root = psutil.Process(process.pid)
                    rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                    self.host = max(self.host, rss / 2**20)
                for device in client.get_json("/system_stats").get("devices", []):
                    if device.get("type") != "cpu":
                        used = device.get("vram_total", 0) - device.get("vram_free", 0)
                        self.gpu = max(self.gpu, used / 2**20)
            except (AtelierError, psutil.Error, OSError):
                pass

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hardware(target: Target) -> dict[str, Any]:
    """What the check ran on, for the report and the status page."""
    info: dict[str, Any] = {
        "cpu": processor(),
        "cores": psutil.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30),
    }
    try:
        stats = target.client().get_json("/system_stats")
        gpus = [d.get("name", "") for d in stats.get("devices", []) if d.get("type") != "cpu"]
        info.update(gpu=gpus[0] if gpus else None, torch=stats.get("system", {}).get("pytorch_version"))
    except AtelierError:
        info.update(gpu=None)
    return info


def _spec(output: Output) -> dict[str, Any]:
    """An output as check_outputs reads it: the fields module.yaml states."""
    return {name: value for name, value in asdict(output).items() if value is not None}


def check_module(
    module: Module, target: Target, node_list: NodeList, out: Path, smoke: bool, timeout: float
) -> ModuleResult:
    result = ModuleResult(module.slug, module.title, "failed")
    started = time.monotonic()
    try:
        job = load_job(module.folder, node_list)
        if smoke:
            job = smoke_settings(job)
        with PeakMemory(target) as peak:
            run = execute(target.client(), job, out / module.slug, node_list, timeout)
        result.peak_host_mb = round(peak.host) if peak.host else None
        result.peak_gpu_mb = round(peak.gpu) if peak.gpu else None
        result.comfy_seconds = run.comfy_seconds
        result.outputs = [str(p) for p in run.outputs]
        ledger.record(out, run.outputs, "check")
        problems = check_outputs(capped_outputs([_spec(output) for output in module.about.outputs], job), run.outputs)
        result.status = "failed" if problems else "passed"
        result.message = "; ".join(problems)
    except AtelierError as err:
        result.message = str(err)
    except Exception as err:  # a bug or a broken file must not stop the other modules
        result.message = str(AtelierError("unexpected", error=f"{type(err).__name__}: {err}"))
    result.seconds = round(time.monotonic() - started, 2)
    if target.revive():
        result.status = "failed"
        result.message = (result.message + " " if result.message else "") + "ComfyUI had died and was restarted."
    return result


def missing_custom_nodes(module: Module, node_list: NodeList, target: Target) -> str:
    """Why the module cannot run on this ComfyUI, when it needs a custom node the ComfyUI has not loaded;
    "" when it can."""
    needed = {
        str(node.get("type")): source
        for node in module.nodes()
        if (source := node_list.source_of(str(node.get("type")))) is not None
    }
    if not needed:
        return ""
    try:
        lacking = target.lacks(set(needed))
    except AtelierError:
        return ""  # a dead server: the module's own run says so
    sources = {needed[name].folder: needed[name] for name in lacking}
    if not sources:
        return ""
    named = "; ".join(
        f"{folder} ({source.repository or 'repository unknown'})" for folder, source in sorted(sources.items())
    )
    return (
        f"needs the custom node {named}, which this ComfyUI has not loaded: install it in its custom_nodes "
        "folder and name it in ATELIER_CUSTOM_NODES"
    )


def check_modules(
    modules: list[Module],
    target: Target,
    node_list: NodeList,
    out: Path,
    smoke: bool,
    timeout: float,
    skipped: dict[str, str] | None = None,
    on_result: Callable[[ModuleResult], None] | None = None,
) -> Report:
    """Check each module in turn; `skipped` maps module -> why it is not run here."""
    report = Report(
        "smoke" if smoke else "real",
        datetime.now(UTC).isoformat(timespec="seconds"),
        hardware(target),
        node_list.comfyui_version,
    )
    for module in modules:
        reason = skipped.get(module.slug) if skipped else None
        reason = reason or missing_custom_nodes(module, node_list, target)
        if reason:
            result = ModuleResult(module.slug, module.title, "skipped", reason)
        else:
            target.unload()
            result = check_module(module, target, node_list, out, smoke, timeout)
        report.results.append(result)
        if on_result:
            on_result(result)
    return report


def hardware_slug(hardware_info: dict[str, Any]) -> str:
    """A file name for the hardware a report ran on, e.g. nvidia-h100-80gb-hbm3 or cpu-2-cores."""
    gpu = hardware_info.get("gpu")
    name = device_name(str(gpu)) if gpu else f"cpu {hardware_info.get('cores')} cores"
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())[:60]


def write_json(report: Report, path: Path, with_outputs: bool = True) -> Path:
    """The report; the published copy leaves out this machine's output paths."""
    data = asdict(report)
    if not with_outputs:
        for result in data["results"]:
            result.pop("outputs")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def write_junit(report: Report, path: Path) -> Path:
    """JUnit XML, so any CI shows one test case per module."""
    suite = ElementTree.Element(
        "testsuite",
        name=f"lesson-check-{report.mode}",
        tests=str(len(report.results)),
        failures=str(sum(r.status == "failed" for r in report.results)),
        skipped=str(sum(r.status == "skipped" for r in report.results)),
        time=f"{sum(r.seconds for r in report.results):.2f}",
        timestamp=report.date,
    )
    for result in report.results:
        case = ElementTree.SubElement(
            suite, "testcase", classname="lessons", name=result.module, time=f"{result.seconds:.2f}"
        )
        if result.status == "failed":
            ElementTree.SubElement(case, "failure", message=result.message)
        elif result.status == "skipped":
            ElementTree.SubElement(case, "skipped", message=result.message)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
    return path
