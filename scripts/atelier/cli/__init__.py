"""The `atelier` command: parses, calls the library, prints. Nothing else.

One error path: library code raises `AtelierError`; `main` prints its message and hint
on one line and exits with its code. Any other exception is a bug: it is reported the
same plain way, naming the file that holds its traceback (`atelier.runlog`: a student's
`serve`, started by the dashboard's job, cannot be run again with --debug); the traceback
is shown only with `--debug`. An `AtelierError` leaves no such file: its message and hint
are the whole story, and files for every mistyped option would crowd out the bugs' ones.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import traceback
from datetime import datetime
from pathlib import Path

import click

from atelier import __version__, runlog
from atelier.cli import bench, classes, install, keep, lessons, screenshots, sessions, sweep
from atelier.cli.options import CONTEXT
from atelier.messages import AtelierError


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", "-V", prog_name="atelier")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug: bool) -> None:
    """Atelier: run ComfyUI lessons on the university's GPU cluster.

    Students normally use the web dashboard and never need this command;
    instructors and maintainers use it to check lessons, launch sessions and
    install the semester's software.
    """


for command in (
    lessons.pin_command,
    lessons.nodes_command,
    lessons.lint_command,
    lessons.new_module_command,
    lessons.run_command,
    lessons.testmodels_command,
    lessons.check_command,
    sessions.serve_command,
    sessions.launch_command,
    sessions.status_command,
    sessions.stop_command,
    sweep.sweep_command,
    sweep.sweep_task_command,
    install.models_command,
    install.install_command,
    install.ood_command,
    keep.ledger_command,
    keep.compare_command,
    classes.class_group,
    keep.backup_command,
    screenshots.screenshots_command,
    screenshots.strips_command,
    bench.bench_command,
):
    cli.add_command(command)


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
    except Exception as err:  # a bug: still one plain line unless --debug, naming its traceback's file
        if debug:
            traceback.print_exc()
        unexpected = _saved(err, args)
        click.echo(f"Error: {unexpected}", err=True)
        sys.exit(unexpected.exit_code)


def _saved(err: Exception, args: list[str]) -> AtelierError:
    """The message for a bug, once its traceback is in a file of its own; if no file can be
    written there, the message asks for --debug instead."""
    try:
        details = {
            "command": shlex.join(["atelier", *args]),
            "atelier": __version__,
            "folder": os.getcwd(),
            "host": socket.gethostname(),
            "slurm job": os.environ.get("SLURM_JOB_ID"),
        }
        folder = runlog.log_folder(os.environ, Path.home())
        saved = runlog.record(folder, err, details, datetime.now().astimezone())
    except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
        return AtelierError("unexpected", error=type(err).__name__)
    return AtelierError("unexpected-logged", error=type(err).__name__, log=saved)
