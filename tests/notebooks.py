"""The How-to notebooks: run them under nbval, and remake their saved outputs.

The site shows each notebook with the outputs saved in it (mkdocs-jupyter never runs
them), and the tests run each one again with nbval and compare the two, through the
patterns in `nbval-sanitize.cfg` for what changes from run to run (temporary folders,
the server's port, timings, embedded pictures). After changing a notebook, remake its
outputs and review the diff:

    .venv/bin/python -m tests.notebooks compare-outputs
    COMFYUI_DIR=... COMFYUI_PYTHON=... .venv/bin/python -m tests.notebooks drive-comfyui

The second starts a ComfyUI with generated test models, as the `comfyui` tier does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "docs" / "how-to"
SANITIZE = Path(__file__).resolve().parent / "nbval-sanitize.cfg"
NEEDS_COMFYUI = {"drive-comfyui"}


def kernel_env(scratch: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a notebook's kernel gets: IPython and Jupyter files kept in `scratch`."""
    return {
        **os.environ,
        "IPYTHONDIR": str(scratch / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        **(extra or {}),
    }


def nbval(notebook: Path, scratch: Path, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `notebook` under nbval in this Python, comparing every cell's output with the saved one."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(SANITIZE),
            "-p",
            "no:cacheprovider",
            "-q",
            str(notebook),
        ],
        cwd=ROOT,
        env=kernel_env(scratch, extra),
        capture_output=True,
        text=True,
        check=False,
    )


def execute(notebook: Path, extra: dict[str, str] | None = None) -> None:
    """Run `notebook` in place and save its outputs, without timings or other run-to-run metadata."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    with tempfile.TemporaryDirectory(prefix="atelier-nb-") as scratch:
        environment = kernel_env(Path(scratch), extra)
        saved = dict(os.environ)
        os.environ.update(environment)  # the kernel inherits this process's environment
        try:
            NotebookClient(
                nb,
                timeout=900,
                kernel_name="python3",
                record_timing=False,
                resources={"metadata": {"path": str(notebook.parent)}},
            ).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    nb.metadata["language_info"] = {"name": "python"}  # not this machine's exact Python version
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce(cell.outputs)
    nbformat.write(nb, notebook)


def coalesce(outputs: list) -> list:
    """Consecutive pieces of one stream (a line printed bit by bit) as one output, as Jupyter shows it."""
    merged: list = []
    for output in outputs:
        if (
            merged
            and output.output_type == "stream"
            and merged[-1].output_type == "stream"
            and merged[-1].name == output.name
        ):
            merged[-1].text += output.text
        else:
            merged.append(output)
    return merged


@contextmanager
def comfyui_for_notebooks() -> Iterator[dict[str, str]]:
    """A ComfyUI with generated test models; yields the variables that point a notebook at it."""
    from atelier.comfy.server import ComfyServer
    from atelier.comfy.testmodels import default_store, generate, module_models
    from atelier.lessons.modules import load_module
    from tests.comfyui_env import comfyui_from_env

    checkout, python = comfyui_from_env()
    names = sorted(n for n, _ in module_models(load_module(ROOT / "workflows" / "txt2img-basics")))
    store = default_store("tiny")
    missing = generate(names, store, "tiny", checkout, python)
    if missing:
        raise SystemExit(f"could not make test models: {missing}")
    with (
        tempfile.TemporaryDirectory(prefix="atelier-nb-comfyui-") as workdir,
        ComfyServer(checkout, python, Path(workdir), cpu=True, models=store) as server,
    ):
        yield {"COMFYUI_URL": server.url, "ATELIER_KEY_FILE": str(server.token_file)}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run How-to notebooks in place, saving their outputs.")
    parser.add_argument("names", nargs="+", help="notebook names under docs/how-to, without .ipynb")
    args = parser.parse_args()
    for name in args.names:
        notebook = NOTEBOOKS / f"{name}.ipynb"
        if not notebook.is_file():
            raise SystemExit(f"no notebook {notebook}")
        if name in NEEDS_COMFYUI:
            with comfyui_for_notebooks() as extra:
                execute(notebook, extra)
        else:
            execute(notebook)
        print(f"Ran {notebook.relative_to(ROOT)} and saved its outputs.")


if __name__ == "__main__":
    main()
