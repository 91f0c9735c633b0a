"""The How-to notebooks: the one that needs no server runs under nbval; the site checks see into notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from tests.notebooks import NEEDS_COMFYUI, NOTEBOOKS, nbval
from tests.unit.test_site_build import build, site_copy


def test_compare_outputs_notebook_gives_its_saved_outputs(tmp_path: Path) -> None:
    result = nbval(NOTEBOOKS / "compare-outputs.ipynb", tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_every_notebook_is_saved_with_its_outputs_and_tested() -> None:
    """A notebook is shown as saved, so every code cell must have run; each has a test."""
    tested = {"compare-outputs"} | NEEDS_COMFYUI
    found = {path.stem for path in NOTEBOOKS.glob("*.ipynb")}
    assert found == tested
    for name in sorted(found):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), name
        assert not [o for cell in code for o in cell.outputs if o.output_type == "error"], name
        assert not [cell for cell in code if "execution" in cell.metadata], f"{name}: timings are saved"


def add_notebook(project: Path, cells: list[dict]) -> None:
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (project / "docs" / "how-to" / "extra.ipynb").write_text(json.dumps(notebook, indent=1))
    config = project / "mkdocs.yml"
    config.write_text(
        config.read_text().replace("      - how-to/index.md\n", "      - how-to/index.md\n      - how-to/extra.ipynb\n")
    )


def test_a_notebook_link_or_picture_that_would_break_fails_the_build(tmp_path: Path) -> None:
    project = site_copy(tmp_path)
    add_notebook(
        project,
        [
            {
                "cell_type": "markdown",
                "id": "a",
                "metadata": {},
                "source": [
                    "# Extra\n",
                    "\n",
                    "Links by URL: [works](../../start/), [so does this](../compare-outputs/#tidy-up).\n",
                    "Not a page's URL: [a source path](../start/index.md), [a bad anchor](../compare-outputs/#nope).\n",
                ],
            },
            {
                "cell_type": "code",
                "id": "b",
                "metadata": {},
                "execution_count": 1,
                "source": ["picture()"],
                "outputs": [
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                    }
                ],
            },
        ],
    )
    result = build(project)
    assert result.returncode == 1
    lines = sorted(line.split("atelier: ", 1)[1] for line in result.stderr.splitlines() if "atelier: " in line)
    assert lines == sorted(
        [
            "docs/how-to/extra.ipynb:1: a picture in the notebook has no alt text: show it as HTML with alt",
            (
                "docs/how-to/extra.ipynb:11: link '../compare-outputs/#nope': no heading or anchor '#nope' in "
                "docs/how-to/compare-outputs.ipynb"
            ),
            (
                "docs/how-to/extra.ipynb:11: link target '../start/index.md' does not exist in the built site "
                "(a notebook links to pages by their URL, e.g. ../other-page/)"
            ),
        ]
    )
