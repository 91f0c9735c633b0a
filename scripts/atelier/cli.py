"""The `atelier` command: parses, calls the library, prints. Nothing else.

One error path: library code raises `AtelierError`; `main` prints its message and hint
on one line and exits with its code. Any other exception is a bug: it is reported the
same plain way, and the traceback is shown only with `--debug`.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from atelier import __version__
from atelier import catalogue as node_catalogue
from atelier.lint import lint as lint_modules
from atelier.lock import LOCK_PATH, load_lock
from atelier.modules import LEVELS, MODALITIES, WORKFLOWS
from atelier.new_module import scaffold
from atelier.messages import AtelierError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="atelier")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug: bool) -> None:
    """Atelier: run ComfyUI lessons on the university's GPU cluster.

    Students normally use the web dashboard and never need this command;
    instructors and maintainers use it to check lessons, launch sessions and
    install the semester's software.
    """


@cli.command()
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=LOCK_PATH,
    show_default=True,
    help="The semester pin to read.",
)
@click.option(
    "--get",
    "key",
    type=click.Choice(
        ["semester", "docs-version", "docs-title", "comfyui-version", "comfyui-commit", "frontend-version"]
    ),
    help="Print only this value, for scripts (e.g. the docs version name).",
)
def lock(lock_path: Path, key: str | None) -> None:
    """Show the semester pin: ComfyUI, frontend and custom nodes."""
    pin = load_lock(lock_path)
    if key:
        click.echo(getattr(pin, key.replace("-", "_")))
        return
    table = Table("what", "pinned to", title=f"Semester pin {pin.semester} ({lock_path})")
    table.add_row("ComfyUI", f"{pin.comfyui_version} ({pin.comfyui_commit})")
    table.add_row("frontend", pin.frontend_version)
    for node in pin.custom_nodes:
        table.add_row(node.repository, node.commit)
    if not pin.custom_nodes:
        table.add_row("custom nodes", "none")
    Console().print(table)


@cli.command()
@click.option("--server", default="http://127.0.0.1:8188", show_default=True, help="The running ComfyUI to read.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=node_catalogue.CATALOGUE_PATH,
    show_default=True,
    help="Where to write the catalogue.",
)
def catalogue(server: str, out: Path) -> None:
    """Save the node catalogue of a running ComfyUI (run it on the pinned version).

    Lint and the lesson pages read this file, so neither needs a ComfyUI.
    """
    result = node_catalogue.dump(server, out)
    click.echo(
        f"Wrote {out}: {len(result.nodes)} node types from ComfyUI {result.comfyui_version} "
        f"({len(result.api_nodes)} online-service nodes left out)."
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--catalogue",
    "catalogue_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=node_catalogue.CATALOGUE_PATH,
    show_default=True,
    help="The node catalogue of the pinned ComfyUI.",
)
def lint(paths: tuple[Path, ...], catalogue_path: Path) -> None:
    """Check lesson modules offline: nodes, values, links, models, knobs, module.yaml.

    PATHS are module folders or folders of modules (default: workflows/).
    Exits 1 when any module has an error; warnings alone pass.
    """
    nodes = node_catalogue.load_catalogue(catalogue_path)
    pinned = load_lock().comfyui_version if LOCK_PATH.is_file() else None
    results = lint_modules(list(paths) or [WORKFLOWS], nodes, pinned)
    errors = warnings = 0
    for findings in results.values():
        for finding in findings:
            click.echo(f"{'warning' if finding.warning else 'error'}: {finding}", err=not finding.warning)
            warnings += finding.warning
            errors += not finding.warning
    broken = sum(any(not f.warning for f in findings) for findings in results.values())
    click.echo(
        f"{len(results)} module(s) checked: {len(results) - broken} clean, {broken} with errors "
        f"({errors} error(s), {warnings} warning(s))."
    )
    if errors:
        sys.exit(1)


@cli.command("new-module")
@click.argument("slug")
@click.option("--from", "source", default="txt2img-basics", show_default=True, help="The module to start from.")
@click.option("--title", prompt="Title students will see", help="The lesson's name in the menu.")
@click.option("--modality", type=click.Choice(MODALITIES), prompt="What it makes", help="image, audio, video or 3d.")
@click.option("--level", type=click.Choice(LEVELS), prompt="Level", help="Who it is for.")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=WORKFLOWS, show_default=True,
              help="The folder that holds the modules.")
def new_module(slug: str, source: str, title: str, modality: str, level: str, root: Path) -> None:
    """Start a new lesson module SLUG by copying an existing one.

    Asks for what it does not get as options. The new module.yaml explains every
    field; the new folder passes `atelier lint` straight away.
    """
    folder = scaffold(root, slug, source, title, modality, level)
    click.echo(f"Made {folder}/ from {source}.")
    click.echo(f"Next: open {folder / 'workflow.json'} in ComfyUI, change it, export it back; "
               f"rewrite {folder / 'module.yaml'}; run 'atelier lint {folder}'.")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the only place that turns errors into a line and an exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="atelier", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("Stopped.", err=True)
        sys.exit(1)
    except AtelierError as err:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {err}", err=True)
        sys.exit(err.exit_code)
    except Exception as err:  # a bug: still one plain line unless --debug
        if debug:
            traceback.print_exc()
        unexpected = AtelierError("unexpected", error=type(err).__name__)
        click.echo(f"Error: {unexpected}", err=True)
        sys.exit(unexpected.exit_code)
