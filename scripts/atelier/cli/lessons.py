"""Commands for lessons: pin, node list, lint, new module, run, test models, check."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from atelier.check.lessons import ModuleResult, Target, check_modules, hardware_slug, write_json, write_junit
from atelier.cli.comfyui import ComfyChoice, read_key, tool_python
from atelier.cli.install import refresh_options, refresh_package_lock
from atelier.cli.lookup import lesson_path, module_folder, pick_modules, project
from atelier.cli.options import (
    COMFYUI,
    FILE,
    FOLDER,
    KEY_FILE,
    MODULES,
    PIN,
    SERVER,
    SET,
    TOOL,
    install_options,
    server_options,
)
from atelier.cli.progress import step_progress
from atelier.comfy import headless, node_dump, testmodels
from atelier.comfy.client import ComfyClient
from atelier.keep import ledger
from atelier.lessons.from_workflow import from_workflow
from atelier.lessons.lint import lint, lint_workflow
from atelier.lessons.modules import LEVELS, MODALITIES, is_plain_workflow
from atelier.lessons.nodes import NodeList, load_node_list
from atelier.lessons.pin import load_pin
from atelier.lessons.wizard import scaffold
from atelier.messages import AtelierError, Finding
from atelier.tools.declaration import BUILTIN, find_tool
from atelier.tools.server import make_test_models


@click.command("pin")
@PIN
@click.option(
    "--get",
    "key",
    type=click.Choice(
        ["semester", "docs-version", "docs-title", "comfyui-version", "comfyui-commit", "frontend-version"]
    ),
    help="Print only this value, for scripts (e.g. the docs version name).",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Make the package lock (workflows/requirements/) again from the pin, with pip, and show it.",
)
@refresh_options
def pin_command(pin_path: Path | None, key: str | None, refresh: bool, **options: object) -> None:
    """Show the semester pin: ComfyUI, frontend and custom nodes.

    With --refresh, resolve every Python package of ComfyUI's environment (the
    CUDA build, or --cpu) and atelier's, at the package index, and write them with
    their sha256 beside the pin; 'atelier install' installs exactly those.
    """
    pin_path = pin_path or project().pin_path
    if refresh:
        refresh_package_lock(pin_path, **options)  # type: ignore[arg-type]
        return
    pin = load_pin(pin_path)
    if key:
        click.echo(getattr(pin, key.replace("-", "_")))
        return
    table = Table("what", "pinned to", title=f"Semester pin {pin.semester} ({pin_path})")
    table.add_row("ComfyUI", f"{pin.comfyui_version} ({pin.comfyui_commit})")
    table.add_row("frontend", pin.frontend_version)
    for node in pin.custom_nodes:
        table.add_row(node.repository, node.commit)
    if not pin.custom_nodes:
        table.add_row("custom nodes", "none")
    for name, requirement in pin.tools.items():
        table.add_row(f"tool {name}", requirement)
    Console().print(table, markup=False)


@click.command("nodes")
@click.option("--server", default="http://127.0.0.1:8188", show_default=True, help="The running ComfyUI to read.")
@click.option(
    "--out", type=FILE, help="Where to write the node list (default: the project's workflows/nodes/object_info.json)."
)
@COMFYUI
@KEY_FILE
def nodes_command(server: str, out: Path | None, comfyui: str | None, key_file: Path | None) -> None:
    """Save the pinned ComfyUI's node list for lint and docs.

    Lint and the lesson pages read this file, so neither needs a ComfyUI. Run it
    against the pinned ComfyUI with the semester's custom nodes loaded, started
    without --disable-api-nodes. --comfyui names the checkout it runs, to record each
    custom node's commit.
    """
    found = project()
    out = out or found.node_list_path
    pinned = found.pin.custom_nodes if found.pin_path.is_file() else []
    result = node_dump.dump(server, out, read_key(key_file), pinned, Path(comfyui) if comfyui else None)
    click.echo(
        f"Wrote {out}: {len(result.nodes)} node types from ComfyUI {result.comfyui_version} "
        f"({len(result.api_nodes)} online-service nodes left out)."
    )
    for source in result.custom_nodes:
        where = f"{source.repository or 'repository unknown'} at {source.commit or 'an unknown commit'}"
        click.echo(f"  {len(source.nodes)} from the custom node {source.folder} ({where})")


@click.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--node-list", "node_list_path", type=FILE, help="The node list of the pinned ComfyUI (default: the project's)."
)
def lint_command(paths: tuple[Path, ...], node_list_path: Path | None) -> None:
    """Check lesson modules offline, against the node list.

    Checks nodes, values, links, models, knobs and module.yaml.

    PATHS are module folders, folders of modules (default: workflows/), or workflow
    files exported from ComfyUI (or its templates), checked for what a run needs.
    Exits 1 when any module has an error; warnings alone pass.
    """
    found = project()
    nodes = load_node_list(node_list_path or found.node_list_path)
    pin = found.pin if found.pin_path.is_file() else None
    results = lint(
        list(paths) or [found.workflows], nodes, pin.comfyui_version if pin else None, pin.custom_nodes if pin else None
    )
    errors = sum(_say(findings) for findings in results.values())
    warnings = sum(f.warning for findings in results.values() for f in findings)
    broken = sum(any(not f.warning for f in findings) for findings in results.values())
    workflows = sum(is_plain_workflow(path) for path in results)
    checked = ", ".join(
        part
        for part in (
            f"{len(results) - workflows} module(s)" if len(results) > workflows else "",
            f"{workflows} workflow file(s)" if workflows else "",
        )
        if part
    )
    click.echo(
        f"{checked} checked: {len(results) - broken} clean, {broken} with errors "
        f"({errors} error(s), {warnings} warning(s))."
    )
    if errors:
        sys.exit(1)


def _say(findings: list[Finding], warnings_too: bool = False) -> int:
    """Each finding on its line (errors, and with `warnings_too` warnings, on stderr); the number of errors."""
    for finding in findings:
        click.echo(f"{'warning' if finding.warning else 'error'}: {finding}", err=warnings_too or not finding.warning)
    return sum(not finding.warning for finding in findings)


@click.command("new-module")
@click.argument("slug")
@click.option(
    "--from", "source", default="txt2img-basics", show_default=True, help="The module to start from, by name or folder."
)
@click.option(
    "--from-workflow",
    "workflow",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Start from a workflow file exported from ComfyUI (or one of its templates) instead.",
)
@click.option("--title", help="The lesson's name in the menu (asked for when not given).")
@click.option(
    "--modality",
    type=click.Choice(MODALITIES),
    help="image, audio, video or 3d (asked for, or worked out from the workflow's save nodes with --from-workflow).",
)
@click.option("--level", type=click.Choice(LEVELS), help="Who it is for (asked for when not given).")
@click.option("--root", type=FOLDER, help="The folder that holds the modules (default: the project's workflows/).")
def new_module_command(
    slug: str,
    source: str,
    workflow: Path | None,
    title: str | None,
    modality: str | None,
    level: str | None,
    root: Path | None,
) -> None:
    """Start a new lesson module SLUG by copying an existing one, or from a workflow.

    Asks for what it does not get as options. From a module, the new module.yaml
    explains every field and the folder passes `atelier lint` straight away. From a
    workflow, what the workflow says (what it makes, its size, models and settings) is
    filled in, and `atelier lint` lists what is left for you to write.
    """
    found = project()
    folder_root = root or found.workflows
    if workflow:
        title = title or click.prompt("Title students will see", default=workflow.stem.replace("_", " ").capitalize())
        level = level or click.prompt("Level", type=click.Choice(LEVELS))
        folder = from_workflow(folder_root, slug, workflow, title, level, found.nodes)
        left = [f for f in lint([folder], found.nodes)[folder] if not f.warning]
        click.echo(f"Made {folder}/ from {workflow}.")
        click.echo(f"{len(left)} thing(s) only you can write are left; 'atelier lint {folder}' lists them:")
        for finding in left:
            click.echo(f"  {finding.text}")
        return
    title = title or click.prompt("Title students will see")
    modality = modality or click.prompt("What it makes", type=click.Choice(MODALITIES))
    level = level or click.prompt("Level", type=click.Choice(LEVELS))
    folder = scaffold(folder_root, slug, module_folder(source, root), title, modality, level)
    click.echo(f"Made {folder}/ from {source}.")
    click.echo(
        f"Next: open {folder / 'workflow.json'} in ComfyUI, change it, export it back; "
        f"rewrite {folder / 'module.yaml'}; run 'atelier lint {folder}'."
    )


@click.command("run")
@click.argument("target")
@SET
@SERVER
@click.option(
    "--out", type=FOLDER, default=Path("outputs"), show_default=True, help="Where the files it makes are saved."
)
@click.option("--timeout", type=float, default=3600, show_default=True, help="Give up after this many seconds.")
@KEY_FILE
@server_options
def run_command(
    target: str,
    settings: tuple[str, ...],
    server: str | None,
    out: Path,
    timeout: float,
    key_file: Path | None,
    comfy: ComfyChoice,
) -> None:
    """Run a module or workflow without the browser.

    TARGET is a module, by name or folder, or a workflow file exported from ComfyUI (or
    one of its templates); a workflow is first checked as `atelier lint` would, and every reason it
    cannot run is named before ComfyUI starts. Saves what it makes, showing progress by
    node and sampler step.

    Exits 0 when it worked, 1 when the run failed, 2 when the input was wrong.
    """
    nodes = project().nodes
    target = lesson_path(target)
    if is_plain_workflow(target):  # a workflow a teacher brings: say every reason it cannot run, before starting
        if errors := _say(lint_workflow(target, nodes), warnings_too=True):  # stdout is for what the run makes
            raise AtelierError("run-workflow-refused", file=target, errors=errors)
    job = headless.load_job(target, nodes)
    headless.apply_settings(job, list(settings), nodes)
    token = read_key(key_file)
    workdir = None
    with contextlib.ExitStack() as stack:
        if server is None:
            workdir = Path(tempfile.mkdtemp(prefix="atelier-run-"))  # kept when it fails: the log it names is there
            started = stack.enter_context(comfy.server(workdir))
            server, token = started.url, started.token
        result = _run_with_progress(ComfyClient(server, token=token), job, out, nodes, timeout)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    ledger.record(out, result.outputs, "run")
    click.echo(f"Done in {result.seconds:.1f} s. Saved {len(result.outputs)} file(s):")
    for path in result.outputs:
        click.echo(f"  {path}")
    click.echo(f"Their settings are in the ledger {out / ledger.LEDGER}.")


def _run_with_progress(
    client: ComfyClient, job: headless.Job, out: Path, nodes: NodeList, timeout: float
) -> headless.RunResult:
    """Show which node is running and its sampler steps while the run goes on."""
    with step_progress() as bar:
        nodes_task = bar.add_task("nodes", total=len(job.prompt))
        steps_task = bar.add_task("steps", total=None, visible=False)

        def show(progress: headless.Progress) -> None:
            bar.update(nodes_task, completed=progress.done, description=progress.title)
            if progress.steps:
                bar.update(
                    steps_task,
                    completed=progress.step,
                    total=progress.steps,
                    visible=True,
                    description=f"{progress.title}: step",
                )

        return headless.execute(client, job, out, nodes, timeout, show)


@click.command("testmodels")
@click.option("--tiny", "variant", flag_value="tiny", default=True, help="Small enough for a CPU (default).")
@click.option("--full", "variant", flag_value="full", help="Full size, for true GPU timings.")
@MODULES
@click.option("--out", type=FOLDER, help="The models folder to fill.")
@TOOL
@install_options
def testmodels_command(
    variant: str, names: tuple[str, ...], out: Path | None, tool_name: str | None, comfy: ComfyChoice
) -> None:
    """Make random-weight models under the names modules load (every module's, or those --module names).

    Cached: files already made with the same generator and seed are kept. With --tool, the
    models a tool beside ComfyUI loads (InvokeAI: an SD 1.5 in diffusers' format).
    """
    store = out or testmodels.default_store(variant)
    if tool_name and tool_name != BUILTIN:
        tool = find_tool(project().tools, tool_name)
        with Console(stderr=True).status(f"Making {tool.title}'s {variant} test models in {store}"):
            made = make_test_models(tool, tool_python(tool), store, full=variant == "full")
        click.echo(f"{tool.title}'s test model is ready in {made}." if made else f"{tool.title} needs no test models.")
        return
    checkout, interpreter = comfy.install()
    wanted = sorted({name for m in pick_modules(names) for name, _ in testmodels.module_models(m)})
    with Console(stderr=True).status(f"Making {variant} test models in {store}"):
        skipped = testmodels.generate(wanted, store, variant, checkout, interpreter)
    click.echo(f"{len(wanted) - len(skipped)} model(s) ready in {store}.")
    for name, reason in sorted(skipped.items()):
        click.echo(f"  no {variant} variant of {name}: {reason}")


@click.command("check")
@click.option("--smoke", "mode", flag_value="smoke", default=True, help="Generated models, steps capped (default).")
@click.option("--real", "mode", flag_value="real", help="The real models from the shared store, unchanged.")
@MODULES
@SERVER
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds each module may take.")
@click.option(
    "--out",
    type=FOLDER,
    default=Path("check-report"),
    show_default=True,
    help="Where outputs, report.json and junit.xml go.",
)
@click.option("--publish", is_flag=True, help="Also save the report for the site's Lesson status page.")
@click.option(
    "--testmodels",
    "test_store",
    type=FOLDER,
    envvar="ATELIER_TESTMODELS",
    help="With --smoke: where the random-weight test models are made and kept, never the shared model "
    "store [default: ~/.cache/atelier/testmodels/tiny; env: ATELIER_TESTMODELS].",
)
@KEY_FILE
@server_options
def check_command(
    mode: str,
    names: tuple[str, ...],
    server: str | None,
    timeout: float,
    out: Path,
    publish: bool,
    test_store: Path | None,
    key_file: Path | None,
    comfy: ComfyChoice,
) -> None:
    """Run every module (or those --module names) and check what it makes.

    Outputs are held to what each module.yaml promises.

    Exits 1 if any module failed. Writes report.json and junit.xml to OUT.
    """
    nodes = project().nodes
    modules = pick_modules(names)
    smoke = mode == "smoke"
    skipped: dict[str, str] = {}
    if smoke:
        if click.get_current_context().get_parameter_source("models") == click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(
                "--models names the real model store, for --real; with --smoke, test models go where --testmodels says"
            )
        checkout, interpreter = comfy.install()
        # Never ATELIER_MODELS, which atelier.env sets: random weights under real names must not reach students.
        models = test_store or testmodels.default_store("tiny")
        comfy = dataclasses.replace(comfy, models=models, cpu=True)  # and on the CPU
        for module in modules:
            wanted = [name for name, _ in testmodels.module_models(module)]
            with Console(stderr=True).status(f"Test models for {module.slug}"):
                missing = testmodels.generate(wanted, models, "tiny", checkout, interpreter)
            if missing:
                skipped[module.slug] = "no CPU test model for " + ", ".join(
                    f"{name} ({why})" for name, why in sorted(missing.items())
                )
    with contextlib.ExitStack() as stack:
        if server:
            target = Target(url=server, token=read_key(key_file))
        else:
            target = Target(server=stack.enter_context(comfy.server(out / "server")))
        table = Console()

        def show(result: ModuleResult) -> None:
            mark = {"passed": "[green]passed[/]", "failed": "[red]FAILED[/]", "skipped": "[yellow]skipped[/]"}
            table.print(f"{mark[result.status]:>22} {result.module:<28} {result.seconds:6.1f} s  {result.message}")

        report = check_modules(modules, target, nodes, out / "outputs", smoke, timeout, skipped, show)
    write_json(report, out / "report.json")
    write_junit(report, out / "junit.xml")
    if publish:
        status = project().status  # the reports the site's Lesson status page is made from
        write_json(report, status / f"{report.mode}-{hardware_slug(report.hardware)}.json", with_outputs=False)
    counts = {s: sum(r.status == s for r in report.results) for s in ("passed", "failed", "skipped")}
    click.echo(
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped. "
        f"Report: {out / 'report.json'}"
    )
    if counts["failed"]:
        raise AtelierError("check-failed", failed=counts["failed"], total=len(report.results))
