"""The `atelier` command: parses, calls the library, prints. Nothing else.

One error path: library code raises `AtelierError`; `main` prints its message and hint
on one line and exits with its code. Any other exception is a bug: it is reported the
same plain way, and the traceback is shown only with `--debug`.
"""

from __future__ import annotations

import contextlib
import os
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
from atelier.server import ComfyServer, find_comfyui, tuning
from atelier import check as checker
from atelier import hpc
from atelier import ood as ood_app
from atelier import backup as backups
from atelier import ledger as ledgers
from atelier import cli_keep as keep
from atelier.cli_screenshots import screenshots
from atelier.cli_bench import bench
from atelier.cli_keep import stamp as _now
from atelier import install as installer
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
@click.option("--port", type=int, default=0, help="Port to listen on (default: a free one).")
@click.option("--listen", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 on a cluster node, so the dashboard can reach it.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("atelier-session"),
              show_default=True, help="Holds this session's input, user and temp folders and its log.")
@click.option("--outputs", type=click.Path(file_okay=False, path_type=Path),
              help="Where pictures and other outputs are saved (default: WORKDIR/output).")
@click.option("--key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="The session key, when someone else made it (the dashboard app does); default: made here.")
@click.option("--module", "module_name", help="Put this lesson's workflow in ComfyUI's Workflows panel.")
@click.option("--backup-to", envvar="ATELIER_BACKUP_TO",
              help="Back outputs up to this REMOTE:FOLDER (e.g. box:Atelier) [env: ATELIER_BACKUP_TO].")
@click.option("--backup-every", type=click.IntRange(min=1), default=15, show_default=True,
              help="With --backup-to: minutes between backups; one more runs when the session ends.")
@click.option("--comfyui-option", "options", multiple=True,
              help="A speed option for ComfyUI, e.g. --comfyui-option=--fast (repeatable; the profile's comfyui_args).")
def serve(comfyui: str | None, python: str | None, models: Path | None, cpu: bool, port: int, listen: str,
          workdir: Path, outputs: Path | None, key_file: Path | None, module_name: str | None,
          backup_to: str | None, backup_every: int, options: tuple[str, ...]) -> None:
    """Start ComfyUI behind its login gate until stopped.

    Keeps its own input/user/temp folders in WORKDIR, reads models from the shared
    store, and on Ctrl+C or SIGTERM (Slurm's signal when a session ends) lets the
    running prompt finish before it stops. Inside a Slurm job it also stops by itself
    shortly before the job's time limit. With --backup-to it backs outputs up during
    the session and once more after ComfyUI has stopped, so nothing finished is left.
    """
    checkout, interpreter = find_comfyui(comfyui, python)
    server = ComfyServer(checkout, interpreter, workdir, port=port, cpu=cpu, models=models, listen=listen,
                         key_file=key_file, outputs=outputs, extra_args=tuning(options, "--comfyui-option", cpu))
    target = backups.Target.parse(backup_to) if backup_to else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # end through `finally`, stopping ComfyUI
    stop_at = hpc.stop_time(os.environ.get("SLURM_JOB_ID"), margin=server.drain_seconds + (180 if target else 60))
    backing_up = False
    try:
        started = time.monotonic()
        if module_name:  # before ComfyUI listens: the student may open it the moment the port answers
            server.offer_workflow(load_module(_module_folder(module_name)))
        url = server.start()
        server.write_connection()
        click.echo(f"{_now()} ComfyUI is ready at {url} ({time.monotonic() - started:.1f} s). "
                   f"Outputs: {server.output_dir}")
        click.echo(f"{_now()} Open {url}/atelier/login and paste the session key kept in {server.token_file}.")
        backing_up = bool(target) and keep.backup_schedule(target)
        due = time.monotonic() + backup_every * 60
        while server.alive():
            if stop_at and time.time() >= stop_at:
                click.echo(f"{_now()} The session's time is nearly up: stopping ComfyUI after the running prompt.")
                return
            if backing_up and time.monotonic() >= due:
                keep.backup_round(server.output_dir, target)
                due = time.monotonic() + backup_every * 60
            time.sleep(1)
        raise AtelierError("server-died")
    finally:
        server.stop()
        click.echo(f"{_now()} ComfyUI stopped. Outputs are in {server.output_dir}")
        if backing_up and target:
            keep.backup_round(server.output_dir, target, final=True)


def _module_folder(name: str) -> Path:
    """A module by folder path, or by name under workflows/ (the OOD app ships its own copy)."""
    return Path(name) if (Path(name) / "module.yaml").is_file() else WORKFLOWS / name


@cli.command()
@click.option("--cluster", default="local", show_default=True, envvar="ATELIER_CLUSTER",
              help="The cluster profile to use [env: ATELIER_CLUSTER].")
@click.option("--gpu", help="The GPU choice from the profile (default: the profile's).")
@click.option("--hours", type=float, help="How long the session may run (default: the profile's).")
@click.option("--module", "module_name", help="Put this lesson's workflow in ComfyUI's Workflows panel.")
@click.option("--outputs", help="Where pictures are saved on the cluster (default: the profile's).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="The session's folder (default: ~/atelier-sessions/<date-time>).")
@click.option("--wait", type=float, default=600, show_default=True,
              help="Seconds to wait for the session to start before leaving it queued.")
def launch(cluster: str, gpu: str | None, hours: float | None, module_name: str | None, outputs: str | None,
           workdir: Path | None, wait: float) -> None:
    """Start ComfyUI as a Slurm job and say how to open it.

    For people who use a terminal; students use the dashboard's ComfyUI app.
    """
    profile = hpc.load_profile(cluster)
    choice, limit = profile.gpu(gpu), profile.hours(hours)
    if module_name:  # a wrong name fails here, not in the job; the job gets the folder's full path
        module_name = str(load_module(_module_folder(module_name)).folder.resolve())
    folder = (workdir or Path.home() / "atelier-sessions" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    script = hpc.job_script(profile, choice, limit, folder, outputs or profile.outputs, module_name)
    job_id = hpc.submit(script, folder)
    click.echo(f"Submitted job {job_id} to {profile.title} ({choice.title}, {limit:g} h). Log: {folder / 'job.log'}")
    with Console(stderr=True).status("Waiting for the session to start") as status:
        def show(current: hpc.Session) -> None:
            status.update(f"Job {job_id}: {current.state.lower()}"
                          + (f" ({current.reason})" if current.reason else "") + " ...")

        current = hpc.wait_until_ready(job_id, folder, wait, show)
    _print_session(profile, current)


def _print_session(profile: hpc.Profile, current: hpc.Session) -> None:
    ways = hpc.open_instructions(profile, current)
    click.echo(f"ComfyUI is running on {current.node} as job {current.job_id}.")
    if "dashboard" in ways:
        click.echo(f"  In the browser: {ways['dashboard']}")
    if "tunnel" in ways:
        click.echo(f"  From your computer: run  {ways['tunnel']}  then open {ways['local']}")
    else:
        click.echo(f"  Open {ways['local']}")
    click.echo(f"  The login page asks for the session key kept in {ways['key']}")
    click.echo(f"  Stop it with: atelier stop {current.job_id}")


@cli.command()
@click.option("--cluster", default="local", show_default=True, envvar="ATELIER_CLUSTER",
              help="The cluster profile, for the links it prints [env: ATELIER_CLUSTER].")
def status(cluster: str) -> None:
    """List your ComfyUI sessions and how to open them."""
    profile = hpc.load_profile(cluster)
    found = hpc.sessions()
    if not found:
        click.echo("You have no ComfyUI sessions.")
        return
    for current in found:
        left = f", {current.time_left} left" if current.time_left else ""
        click.echo(f"Job {current.job_id}: {current.state.lower()}{left}; folder {current.workdir}")
        if current.connection and current.state == "RUNNING":
            _print_session(profile, current)


@cli.command()
@click.argument("job_id")
def stop(job_id: str) -> None:
    """End a ComfyUI session; the running prompt finishes first."""
    if job_id not in {current.job_id for current in hpc.sessions()}:
        raise AtelierError("session-unknown", job=job_id)
    hpc.cancel(job_id)
    click.echo(f"Stopping job {job_id}: ComfyUI finishes the running prompt, then the session ends.")


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
    ledgers.record(out, result.outputs, "run")
    click.echo(f"Done in {result.seconds:.1f} s. Saved {len(result.outputs)} file(s):")
    for path in result.outputs:
        click.echo(f"  {path}")
    click.echo(f"Their settings are in the ledger {out / ledgers.LEDGER}.")


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


@cli.command("install")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path),
              help="The folder to install into, one per semester (default: the cluster profile's prefix).")
@click.option("--cluster", help="A cluster profile (clusters/NAME.yaml) naming the prefix and the shared model store.")
@click.option("--source", default=installer.COMFYUI_SOURCE, show_default=True,
              help="The ComfyUI git repository to clone: a site mirror, or a local path or file:// URL.")
@click.option("--cpu", is_flag=True, help="Install the CPU build of PyTorch (machines without an NVIDIA GPU).")
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path), default=LOCK_PATH,
              show_default=True, help="The semester pin to install.")
@click.option("--dry-run", is_flag=True, help="Print every step and whether it would be skipped; change nothing.")
def install_command(prefix: Path | None, cluster: str | None, source: str, cpu: bool, lock_path: Path,
                    dry_run: bool) -> None:
    """Install the semester's pinned ComfyUI, custom nodes and atelier.

    Installs exactly what workflows/lock.yaml pins into one folder, getting ComfyUI
    with comfy-cli (telemetry off). Run it again at any time: finished steps are
    skipped, and an interrupted install carries on where it stopped.
    """
    layout = installer.layout_for(prefix, cluster)
    if layout is None:
        raise click.UsageError("give --prefix DIR, or --cluster NAME whose profile names a prefix")
    pin = load_lock(lock_path)
    plan = installer.build_plan(pin, layout, source=source, cpu=cpu)
    out = Console()
    if dry_run:
        out.print(f"Install plan for {pin.semester} into {layout.prefix} (dry run: nothing is changed)",
                  highlight=False, soft_wrap=True)
        todo = 0
        for number, (step, finished) in enumerate(installer.pending(plan), 1):
            todo += not finished
            mark = "[dim]skip: already done[/]" if finished else "[bold]would run[/]"
            out.print(f"{number:>3}. {step.title}  {mark}", highlight=False, soft_wrap=True)
            for line in installer.describe(step):
                out.print(f"       {line}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"{todo} step(s) would run, {len(plan.steps) - todo} already done. Logs would go to {layout.logs}.",
                  highlight=False, soft_wrap=True)
        return
    started = time.monotonic()
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("install", total=len(plan.steps))

        def show(step: installer.Step, state: str) -> None:
            if state == "running":
                bar.update(task, description=step.title)
                return
            mark = "[green]done[/]   " if state == "done" else "[dim]skipped[/]"
            bar.console.print(f"{mark} {step.title}", highlight=False)
            bar.advance(task)

        counts = installer.execute(plan, show)
    click.echo(f"Installed {pin.semester} into {layout.prefix} in {time.monotonic() - started:.0f} s: "
               f"{counts['done']} step(s) run, {counts['skipped']} already done. Logs: {layout.logs}")
    click.echo(f"Job scripts: source {layout.env_file}")


@cli.group()
def ood() -> None:
    """The Open OnDemand app."""


@ood.command("deploy")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cluster", "clusters", multiple=True, default=("cerberus", "pegasus"), show_default=True,
              help="The cluster profiles the form offers (repeatable).")
@click.option("--site-file", type=click.Path(dir_okay=False, path_type=Path), default=ood_app.SITE_FILE,
              show_default=True, help="Where the templates read their choices from.")
@click.option("--portal", type=click.Path(dir_okay=False, path_type=Path),
              help="The site's ood_portal.yml, to check the settings sessions need (usually /etc/ood/config/ood_portal.yml).")
@click.option("--comfyui", envvar="COMFYUI_DIR",
              help="For a profile without a prefix only: the ComfyUI checkout its jobs run [env: COMFYUI_DIR].")
@click.option("--python", envvar="COMFYUI_PYTHON",
              help="For a profile without a prefix only: the Python that runs it [env: COMFYUI_PYTHON].")
def ood_deploy(dest: Path, clusters: tuple[str, ...], site_file: Path, portal: Path | None,
               comfyui: str | None, python: str | None) -> None:
    """Install the ComfyUI app into DEST with its choices from the cluster profiles.

    DEST is usually /var/www/ood/apps/sys/comfyui. Run again after editing a profile
    or adding a lesson; students see a changed form once their dashboard restarts.
    With --portal it also checks the portal settings and prints the lines to add.
    """
    profiles = [hpc.load_profile(name) for name in clusters]
    findings = ood_app.portal_findings(portal, profiles) if portal else []
    checkout = find_comfyui(comfyui, python) if comfyui and not all(p.prefix for p in profiles) else None
    modules = all_modules(WORKFLOWS)
    app, written = ood_app.deploy(dest, site_file, profiles, modules, comfyui=checkout)
    choices = sum(len(p.gpus) for p in profiles)
    click.echo(f"Deployed the app to {app} with {len(modules)} lessons; "
               f"{choices} GPU choices on {', '.join(p.title for p in profiles)} written to {written}.")
    if portal and not findings:
        click.echo(f"{portal}: the portal settings sessions need are all there.")
    if findings:
        for finding in findings:
            click.echo(f"Warning: {finding}", err=True)
        click.echo(f"Add to {portal}, then run update_ood_portal and restart Apache:\n"
                   + ood_app.portal_lines(findings), err=True)
        sys.exit(1)


for command in (keep.ledger, keep.compare, keep.backup, screenshots, bench):
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
    except Exception as err:  # a bug: still one plain line unless --debug
        if debug:
            traceback.print_exc()
        unexpected = AtelierError("unexpected", error=type(err).__name__)
        click.echo(f"Error: {unexpected}", err=True)
        sys.exit(unexpected.exit_code)
