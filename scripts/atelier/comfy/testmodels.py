"""Random-weight models with the real architectures, under the names workflows load.

Model weights can't be downloaded everywhere the lessons are checked (CI, a laptop, a
fresh node), and speed does not depend on weight values. So the lesson check generates
files ComfyUI loads exactly like the real ones: `tiny` variants, small enough for a CPU
but still detected as the same model family, and `full` variants, full size for true GPU
timings. The tensors are made by testmodels_torch.py, run with ComfyUI's own Python
(which has torch); this module decides what to make and caches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

from atelier.lessons.modules import Module
from atelier.messages import AtelierError

WORKER = Path(__file__).with_name("testmodels_torch.py")
VARIANTS = ("tiny", "full")


def default_store(variant: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "atelier" / "testmodels" / variant


def module_models(module: Module) -> list[tuple[str, str]]:
    """(file name, ComfyUI folder) of every model the module's workflow declares."""
    return [(model.name, model.directory) for model in module.models()]


def _stamp(variant: str, seed: int) -> str:
    """Changes whenever the generator (the worker and its parts) or its settings do, so the cache never goes stale."""
    code = b"".join(path.read_bytes() for path in sorted(WORKER.parent.glob(f"{WORKER.stem}*.py")))
    return hashlib.sha256(code + f"{variant}:{seed}".encode()).hexdigest()[:16]


def generate(names: list[str], store: Path, variant: str, comfyui: Path, python: Path, seed: int = 0) -> dict[str, str]:
    """Make the missing files; returns {name: why it was skipped} for names with no variant."""
    index_path = store / "index.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    stamp = _stamp(variant, seed)

    def ready(entry: dict) -> bool:
        """Made (or found impossible) by this generator with these settings."""
        return entry.get("stamp") == stamp and ("skipped" in entry or (store / entry.get("path", "")).is_file())

    wanted = [n for n in names if not ready(index.get(n, {}))]
    skipped = {n: index[n]["skipped"] for n in names if n in index and ready(index[n]) and "skipped" in index[n]}
    if wanted:
        store.mkdir(parents=True, exist_ok=True)
        command = [
            str(python),
            str(WORKER),
            "--out",
            str(store),
            "--variant",
            variant,
            "--seed",
            str(seed),
            "--models",
            *wanted,
        ]
        done = subprocess.run(
            command, cwd=comfyui, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(comfyui)}
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise AtelierError("testmodels-failed", reason=last[:300])
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        for item in summary.get("written", []):
            index[item["name"]] = {
                "stamp": stamp,
                "path": f"{item['directory']}/{item['name']}",
                "bytes": item["bytes"],
            }
        for item in summary.get("skipped", []):
            name = item["name"] if isinstance(item, dict) else item
            reason = item.get("reason", "no test variant") if isinstance(item, dict) else "no test variant"
            index[name] = {"stamp": stamp, "skipped": reason}
            skipped[name] = reason
        index_path.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return skipped
