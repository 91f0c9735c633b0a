"""The `atelier` command: parses, calls the library, prints. Nothing else.

One error path: library code raises `AtelierError`; `main` prints its message and hint
on one line and exits with its code. Any other exception is a bug: it is reported the
same plain way, and the traceback is shown only with `--debug`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from atelier import __version__
from atelier import catalogue as node_catalogue
from atelier.lint import lint as lint_modules
from atelier.lock import LOCK_PATH, load_lock
from atelier.modules import LEVELS, MODALITIES, WORKFLOWS
from atelier.new_module import scaffold
from atelier import run as runner
from atelier.client import ComfyClient
from atelier.server import ComfyServer, find_comfyui
from atelier import check as checker
from atelier import models as model_store
from atelier import testmodels as test_models
from atelier.modules import all_modules, load_module
from atelier.messages import AtelierError

STATUS = Path("docs/status")  # reports the site's Lesson status page is made from
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _key_option(command: click.Command) -> click.Command:
    return click.option(
        "--key-file", type=click.Path(dir_okay=False, path_type=Path), envvar="ATELIER_KEY_FILE",
        help="With --server: the file holding that session's key [env: ATELIER_KEY_FILE].",
    )(command)


def _read_key(path: Path | None) -> str | None:
    """The session key, from a file so it never shows in a command line or a log."""
    return path.read_text(encoding="utf-8").strip() if path else None


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
@_key_option
def catalogue(server: str, out: Path, key_file: Path | None) -> None:
    """Save the pinned ComfyUI's node list for lint and docs.

    Lint and the lesson pages read this file, so neither needs a ComfyUI. Run it
    against the pinned ComfyUI, started without --disable-api-nodes.
    """
    result = node_catalogue.dump(server, out, _read_key(key_file))
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
    """Check lesson modules offline, against the node catalogue.

    Checks nodes, values, links, models, knobs and module.yaml.

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


def _server_options(command: click.Command) -> click.Command:
    """Options shared by the commands that start their own ComfyUI."""
    for option in reversed([
        click.option("--comfyui", envvar="COMFYUI_DIR", help="The ComfyUI checkout [env: COMFYUI_DIR]."),
        click.option("--python", envvar="COMFYUI_PYTHON", help="The Python that runs it [env: COMFYUI_PYTHON]."),
        click.option("--models", type=click.Path(file_okay=False, path_type=Path), envvar="ATELIER_MODELS",
                     help="The shared model store [env: ATELIER_MODELS]."),
        click.option("--cpu", is_flag=True, help="Run on the CPU (no GPU)."),
    ]):
        command = option(command)
    return command


def _make_server(workdir: Path, comfyui: str | None, python: str | None, models: Path | None, cpu: bool,
                 port: int = 0) -> ComfyServer:
    checkout, interpreter = find_comfyui(comfyui, python)
    return ComfyServer(checkout, interpreter, workdir, port=port, cpu=cpu, models=models)


@cli.command()
@_server_options
@click.option("--port", type=int, default=0, help="Port on 127.0.0.1 (default: a free one).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("atelier-session"),
              show_default=True, help="Holds this session's input, output, user and temp folders.")
def serve(comfyui: str | None, python: str | None, models: Path | None, cpu: bool, port: int, workdir: Path) -> None:
    """Start ComfyUI with the project's settings until stopped.

    It listens on 127.0.0.1 only, keeps its own input/output/user/temp folders in
    WORKDIR, reads models from the shared store, and stops cleanly on Ctrl+C or SIGTERM.
    """
    server = _make_server(workdir, comfyui, python, models, cpu, port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # end through `finally`, stopping ComfyUI
    try:
        started = time.monotonic()
        url = server.start()
        click.echo(f"ComfyUI is ready at {url} ({time.monotonic() - started:.1f} s). Outputs: {workdir / 'output'}")
        click.echo(f"Open {url}/atelier/login and paste the session key kept in {server.token_file}.")
        click.echo("Press Ctrl+C to stop.")
        while server.alive():
            time.sleep(1)
        raise AtelierError("server-died")
    finally:
        server.stop()


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--set", "settings", multiple=True, metavar="BOX.SETTING=VALUE",
              help='Change a knob before running, e.g. --set "KSampler.seed=4" (repeatable).')
@click.option("--server", help="A running ComfyUI to use, e.g. http://127.0.0.1:8188 (default: start one).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("outputs"), show_default=True,
              help="Where the files it makes are saved.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="Give up after this many seconds.")
@_key_option
@_server_options
def run(target: Path, settings: tuple[str, ...], server: str | None, out: Path, timeout: float, key_file: Path | None,
        comfyui: str | None, python: str | None, models: Path | None, cpu: bool) -> None:
    """Run a module or workflow without the browser.

    Saves what it makes, showing progress by box and sampler step.

    Exits 0 when it worked, 1 when the run failed, 2 when the input was wrong.
    """
    nodes = node_catalogue.load_catalogue()
    job = runner.load_job(target, nodes)
    runner.apply_settings(job, list(settings), nodes)
    token = _read_key(key_file)
    with contextlib.ExitStack() as stack:
        if server is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="atelier-run-")))
            comfy = stack.enter_context(_make_server(workdir, comfyui, python, models, cpu))
            server, token = comfy.url, comfy.token
        result = _run_with_progress(ComfyClient(server, token=token), job, out, nodes, timeout)
    click.echo(f"Done in {result.seconds:.1f} s. Saved {len(result.outputs)} file(s):")
    for path in result.outputs:
        click.echo(f"  {path}")


def _run_with_progress(client: ComfyClient, job: runner.Job, out: Path, nodes: node_catalogue.Catalogue,
                       timeout: float) -> runner.RunResult:
    """Show which box is running and its sampler steps while the run goes on."""
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        nodes_task = bar.add_task("boxes", total=len(job.prompt))
        steps_task = bar.add_task("steps", total=None, visible=False)

        def show(progress: runner.Progress) -> None:
            bar.update(nodes_task, completed=progress.done, description=progress.title)
            if progress.steps:
                bar.update(steps_task, completed=progress.step, total=progress.steps, visible=True,
                           description=f"{progress.title}: step")

        return runner.execute(client, job, out, nodes, timeout, show)


def _pick_modules(names: tuple[str, ...]) -> list:
    modules = all_modules(WORKFLOWS)
    if not names:
        return modules
    known = {m.slug: m for m in modules}
    return [known[n] if n in known else load_module(WORKFLOWS / n) for n in names]


@cli.command()
@click.option("--tiny", "variant", flag_value="tiny", default=True, help="Small enough for a CPU (default).")
@click.option("--full", "variant", flag_value="full", help="Full size, for true GPU timings.")
@click.option("--modules", "names", multiple=True, help="Only these modules (repeatable; default: all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="The models folder to fill.")
@click.option("--comfyui", envvar="COMFYUI_DIR", help="The ComfyUI checkout [env: COMFYUI_DIR].")
@click.option("--python", envvar="COMFYUI_PYTHON", help="The Python that runs it [env: COMFYUI_PYTHON].")
def testmodels(variant: str, names: tuple[str, ...], out: Path | None, comfyui: str | None, python: str | None) -> None:
    """Make random-weight models under the names modules load.

    Cached: files already made with the same generator and seed are kept.
    """
    checkout, interpreter = find_comfyui(comfyui, python)
    store = out or test_models.default_store(variant)
    wanted = sorted({name for m in _pick_modules(names) for name, _ in test_models.module_models(m)})
    with Console(stderr=True).status(f"Making {variant} test models in {store}"):
        skipped = test_models.generate(wanted, store, variant, checkout, interpreter)
    click.echo(f"{len(wanted) - len(skipped)} model(s) ready in {store}.")
    for name, reason in sorted(skipped.items()):
        click.echo(f"  no {variant} variant of {name}: {reason}")


@cli.command()
@click.option("--smoke", "mode", flag_value="smoke", default=True, help="Generated models, steps capped (default).")
@click.option("--real", "mode", flag_value="real", help="The real models from the shared store, unchanged.")
@click.option("--modules", "names", multiple=True, help="Only these modules (repeatable; default: all).")
@click.option("--server", help="Use this running ComfyUI instead of starting one.")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds each module may take.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("check-report"),
              show_default=True, help="Where outputs, report.json and junit.xml go.")
@click.option("--publish", is_flag=True, help="Also save the report for the site's Lesson status page.")
@_key_option
@_server_options
def check(mode: str, names: tuple[str, ...], server: str | None, timeout: float, out: Path, publish: bool,
          key_file: Path | None, comfyui: str | None, python: str | None, models: Path | None, cpu: bool) -> None:
    """Run every module and check what it makes.

    Outputs are held to what each module.yaml promises.

    Exits 1 if any module failed. Writes report.json and junit.xml to OUT.
    """
    nodes = node_catalogue.load_catalogue()
    modules = _pick_modules(names)
    smoke = mode == "smoke"
    skipped: dict[str, str] = {}
    if smoke:
        checkout, interpreter = find_comfyui(comfyui, python)
        models = models or test_models.default_store("tiny")
        for module in modules:
            wanted = [name for name, _ in test_models.module_models(module)]
            with Console(stderr=True).status(f"Test models for {module.slug}"):
                missing = test_models.generate(wanted, models, "tiny", checkout, interpreter)
            if missing:
                skipped[module.slug] = "no CPU test model for " + ", ".join(sorted(missing))
    with contextlib.ExitStack() as stack:
        if server:
            session = checker.Session(url=server, token=_read_key(key_file))
        else:
            comfy = stack.enter_context(_make_server(out / "server", comfyui, python, models, cpu or smoke))
            session = checker.Session(server=comfy)
        table = Console()

        def show(result: checker.ModuleResult) -> None:
            mark = {"passed": "[green]passed[/]", "failed": "[red]FAILED[/]", "skipped": "[yellow]skipped[/]"}
            table.print(f"{mark[result.status]:>22} {result.module:<28} {result.seconds:6.1f} s  {result.message}")

        report = checker.check_modules(modules, session, nodes, out / "outputs", smoke, timeout, skipped, show)
    checker.write_json(report, out / "report.json")
    checker.write_junit(report, out / "junit.xml")
    if publish:
        checker.write_json(report, STATUS / f"{report.mode}-{checker.slug(report.hardware)}.json", with_outputs=False)
    counts = {s: sum(r.status == s for r in report.results) for s in ("passed", "failed", "skipped")}
    click.echo(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped. "
               f"Report: {out / 'report.json'}")
    if counts["failed"]:
        raise AtelierError("check-failed", failed=counts["failed"], total=len(report.results))


@cli.group()
def models() -> None:
    """The shared model store."""


@models.command("fetch")
@click.option("--module", "names", multiple=True, help="Only the models of these modules (repeatable).")
@click.option("--all", "everything", is_flag=True, help="The models of every module.")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), envvar="ATELIER_MODELS", required=True,
              help="The model store to fill [env: ATELIER_MODELS].")
def models_fetch(names: tuple[str, ...], everything: bool, store: Path) -> None:
    """Download the models modules declare, verified by sha256.

    Resumes broken downloads, checks free space first, and skips files already
    verified. A file whose sha256 does not match is removed, never kept.
    """
    if not names and not everything:
        raise click.UsageError("give --module NAME (repeatable) or --all")
    wanted = model_store.declared(_pick_modules(() if everything else names))
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        current: list[int] = []

        def start(model: model_store.ModelFile, size: int) -> None:
            current[:] = [bar.add_task(model.name, total=size or None)]

        results = model_store.fetch(wanted, store, start, lambda n: bar.advance(current[0], n))
    for name, outcome in sorted(results.items()):
        click.echo(f"{outcome:>10}  {name}")


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
