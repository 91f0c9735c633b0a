"""Commands for maintainers: install the semester's software, fetch models, deploy the OOD app."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from atelier.cli.lookup import pick_modules, project
from atelier.cli.options import (
    CLUSTER,
    COMFYUI,
    EXISTING_FOLDER,
    FILE,
    FOLDER,
    FORM_CLUSTERS,
    MODULES,
    PIN,
    PYTHON,
    STORE,
)
from atelier.cli.progress import step_progress
from atelier.comfy.server import find_comfyui
from atelier.hpc import install, ood, packages, sources, steps
from atelier.hpc.profiles import load_profile
from atelier.hpc.store import ModelFile, declared, fetch, import_files, verify
from atelier.lessons.pin import load_pin
from atelier.messages import AtelierError, Finding
from atelier.tools.declaration import find_tool, load_tools


@click.group("models")
def models_command() -> None:
    """The shared model store."""


@models_command.command("fetch")
@MODULES
@click.option("--all", "everything", is_flag=True, help="The models of every module.")
@STORE
def models_fetch(names: tuple[str, ...], everything: bool, store: Path) -> None:
    """Download the models that the modules --module names (or --all) declare, verified by sha256.

    Resumes broken downloads, checks free space first, and skips files already
    verified. A file whose sha256 does not match is removed, never kept.
    """
    if not names and not everything:
        raise click.UsageError("give --module NAME (repeatable) or --all")
    wanted = declared(pick_modules(() if everything else names))
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        current: list[int] = []

        def start(model: ModelFile, size: int) -> None:
            current[:] = [bar.add_task(model.name, total=size or None)]

        results = fetch(wanted, store, start, lambda n: bar.advance(current[0], n))
    for name, outcome in sorted(results.items()):
        click.echo(f"{outcome:>10}  {name}")


@models_command.command("import")
@click.argument("folder", type=EXISTING_FOLDER)
@MODULES
@STORE
def models_import(folder: Path, names: tuple[str, ...], store: Path) -> None:
    """Add model files fetched on another host, each checked against its published sha256.

    For a host that cannot reach the publishers: copy the files (from 'atelier models
    fetch' run elsewhere, or downloaded by hand) into FOLDER, in any sub-folders, and
    import them. A file that does not match is refused and nothing of it is kept. With
    --module, only those modules' models. Exits 1 when a declared model was not found in FOLDER.
    """
    wanted = declared(pick_modules(names))
    total = sum(
        path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file() and path.name in {model.name for model in wanted}
    )
    columns = [TextColumn("Copying"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("import", total=total or None)
        results = import_files(wanted, folder, store, lambda n: bar.advance(task, n))
    for name, outcome in sorted(results.items()):
        click.echo(f"{outcome:>10}  {name}")
    missing = [name for name, outcome in results.items() if outcome == "not found"]
    if missing:
        raise AtelierError("models-import-missing", missing=len(missing), total=len(results), folder=folder)
    click.echo(f"All {len(results)} model files are in {store}.")


@models_command.command("verify")
@MODULES
@STORE
def models_verify(names: tuple[str, ...], store: Path) -> None:
    """Read every model file again and compare it with its published sha256.

    Trusts no earlier record: a file changed in place, even with its time kept, is
    found. A file that differs is moved to STORE/.changed/DATE/, where ComfyUI does
    not look. With --module, only those modules' models. Exits 1 when any file is missing
    or changed.
    """
    wanted = declared(pick_modules(names))
    total = sum(m.target(store).stat().st_size for m in wanted if m.target(store).is_file())
    columns = [TextColumn("Reading"), BarColumn(), DownloadColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verify", total=total or None)
        verdicts = verify(wanted, store, lambda n: bar.advance(task, n))
    for verdict in verdicts:
        target = verdict.model.target(store)
        if verdict.outcome == "changed":
            found = Finding(
                "models-verify-changed",
                {"file": target, "expected": verdict.model.sha256, "got": verdict.got, "moved": verdict.moved},
            )
            click.echo(f"error: {found}", err=True)
        elif verdict.outcome == "missing":
            click.echo(f"error: {Finding('models-verify-missing', {'file': target})}", err=True)
        else:
            shown = "verified" if verdict.outcome == "verified" else "present (no published sha256 to verify it)"
            click.echo(f"{shown:>10}  {verdict.model.name}")
    bad = [v for v in verdicts if v.outcome in ("changed", "missing")]
    if bad:
        raise AtelierError("models-verify-failed", bad=len(bad), total=len(verdicts), store=store)
    click.echo(f"All {len(verdicts)} model files in {store} are as published.")


def _node_sources(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise click.BadParameter(f"{value!r} is not NAME=URL", param_hint="--node-source")
        pairs[name] = url
    return pairs


def refresh_options(command: Callable) -> Callable:
    """The options of 'atelier pin --refresh': where pip resolves, and for which Python and build."""
    for option in reversed(
        [
            click.option("--cpu", is_flag=True, help="With --refresh: lock PyTorch's CPU build (comfyui-cpu.txt)."),
            click.option(
                "--tool",
                "tool_names",
                multiple=True,
                metavar="NAME",
                help="With --refresh: lock only this tool's environment (repeatable), not ComfyUI's or atelier's.",
            ),
            click.option(
                "--python",
                "python",
                type=FILE,
                help="With --refresh: the Python the install will use [default: this one].",
            ),
            click.option(
                "--source", help=f"With --refresh: ComfyUI's git repository [default: {sources.COMFYUI_SOURCE}]."
            ),
            click.option(
                "--node-source",
                "node_sources",
                multiple=True,
                metavar="NAME=URL",
                help="With --refresh: a custom node's git repository (repeatable).",
            ),
            click.option(
                "--index-url",
                "package_index",
                metavar="URL",
                help="With --refresh: the package index [default: pip's own settings].",
            ),
            click.option("--torch-index", metavar="URL", help="With --refresh: an index with PyTorch's builds."),
        ]
    ):
        command = option(command)
    return command


def refresh_package_lock(
    pin_path: Path,
    tool_names: tuple[str, ...],
    cpu: bool,
    python: Path | None,
    source: str | None,
    node_sources: tuple[str, ...],
    package_index: str | None,
    torch_index: str | None,
) -> None:
    pin = load_pin(pin_path)
    console = Console(stderr=True)
    tools = load_tools(pin_path.parent.parent, list(pin.tools))
    if tool_names:
        with console.status("Locking the tools' packages") as status:
            written = packages.refresh_tools(
                pin,
                pin_path,
                [find_tool(tools, name) for name in tool_names],
                (python or Path(sys.executable)).absolute(),
                packages.Index(package_index, torch_index),
                "cpu" if cpu else "cuda",
                Path(tempfile.gettempdir()) / "atelier-lock-logs",
                lambda text: status.update(text),
            )
    else:
        with console.status("Locking the semester's packages") as status:
            written = packages.refresh(
                pin,
                pin_path,
                install.project_folder(),
                (python or Path(sys.executable)).absolute(),
                packages.Index(package_index, torch_index),
                "cpu" if cpu else "cuda",
                source or sources.COMFYUI_SOURCE,
                _node_sources(node_sources),
                Path(tempfile.gettempdir()) / "atelier-lock-logs",
                lambda text: status.update(text),
                tools,
            )
    for path in written:
        click.echo(f"Wrote {path}: {len(packages.read(path).pins)} packages, each with its sha256.")


@click.command("install")
@click.option(
    "--prefix",
    type=FOLDER,
    help="The folder to install into, one per semester (default: the cluster profile's prefix).",
)
@CLUSTER
@click.option(
    "--source",
    help=f"ComfyUI's git repository: a site mirror, a local path or file:// URL "
    f"[default: the profile's comfyui_source, else {sources.COMFYUI_SOURCE}].",
)
@click.option(
    "--node-source",
    "node_sources",
    multiple=True,
    metavar="NAME=URL",
    help="A custom node's git repository, by its folder name (repeatable) [default: the pin's].",
)
@click.option(
    "--index-url",
    "package_index",
    metavar="URL",
    help="The site's Python package index [default: the profile's package_index, else pip's own settings].",
)
@click.option(
    "--torch-index",
    metavar="URL",
    help="An index with PyTorch's builds [default: the profile's torch_index, else the package lock's].",
)
@click.option(
    "--wheelhouse", type=EXISTING_FOLDER, help="A folder of wheels to install from, for a host that reaches no index."
)
@click.option(
    "--cpu/--cuda",
    default=None,
    help="PyTorch's CPU build (machines without an NVIDIA GPU) or the CUDA one [default: CUDA].",
)
@click.option(
    "--python",
    "python",
    type=FILE,
    help="The Python the environments are made from; every account must be able to run it "
    "[default: the one running atelier].",
)
@PIN
@click.option(
    "--tool",
    "tool_names",
    multiple=True,
    metavar="NAME",
    help="Install only this tool of the pin (repeatable), into a prefix installed before: a tool added mid-semester.",
)
@click.option("--dry-run", is_flag=True, help="Print every step and whether it would be skipped; change nothing.")
def install_command(
    prefix: Path | None,
    cluster: str | None,
    source: str | None,
    node_sources: tuple[str, ...],
    package_index: str | None,
    torch_index: str | None,
    wheelhouse: Path | None,
    cpu: bool | None,
    python: Path | None,
    pin_path: Path | None,
    tool_names: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Install the semester's pinned ComfyUI, custom nodes, tools and atelier.

    Installs exactly what workflows/pin.yaml and the package lock beside it pin into
    one folder, getting ComfyUI with comfy-cli (telemetry off). The prefix remembers
    where it was installed from: run it again at any time with no other option;
    finished steps are skipped, and an interrupted install carries on where it stopped.
    The cluster profile names the prefix, the model store and the site's mirrors.
    """
    layout, profile = install.layout_for(prefix, cluster)
    if layout is None:
        raise click.UsageError("give --prefix DIR, or --cluster NAME whose profile names a prefix")
    given = {
        "source": source,
        "node_sources": _node_sources(node_sources),
        "package_index": package_index,
        "torch_index": torch_index,
        "wheelhouse": str(wheelhouse.absolute()) if wheelhouse else None,
        "cpu": cpu,
        "python": str(python.absolute()) if python else None,
        "pin": str(pin_path.absolute()) if pin_path else None,
    }
    chosen, origin = sources.choose_sources(layout, given, profile)
    pin_path = Path(chosen.pin) if chosen.pin else project().pin_path
    pin = load_pin(pin_path)
    plan = install.build_plan(pin, layout, chosen, pin_path=pin_path, only_tools=list(tool_names) or None)
    out = Console()
    if dry_run:
        out.print(
            f"Install plan for {pin.semester} into {layout.prefix} (dry run: nothing is changed)",
            highlight=False,
            soft_wrap=True,
        )
        for name, value in sources.shown_sources(chosen, pin_path).items():
            out.print(
                f"     {name}: {value}  [dim]({origin.get(name.split(' ')[0], 'default')})[/]",
                highlight=False,
                soft_wrap=True,
            )
        todo = 0
        for number, (step, finished) in enumerate(steps.pending(plan), 1):
            todo += not finished
            mark = "[dim]skip: already done[/]" if finished else "[bold]would run[/]"
            out.print(f"{number:>3}. {escape(step.title)}  {mark}", highlight=False, soft_wrap=True)
            for line in steps.describe(step):
                out.print(f"       {line}", highlight=False, markup=False, soft_wrap=True)
        out.print(
            f"{todo} step(s) would run, {len(plan.steps) - todo} already done. Logs would go to {layout.logs}.",
            highlight=False,
            soft_wrap=True,
        )
        return
    started = time.monotonic()
    with step_progress() as bar:
        task = bar.add_task("install", total=len(plan.steps))

        def show(step: steps.InstallStep, state: str) -> None:
            if state == "running":
                bar.update(task, description=step.title)
                return
            mark = "[green]done[/]   " if state == "done" else "[dim]skipped[/]"
            bar.console.print(f"{mark} {escape(step.title)}", highlight=False)
            bar.advance(task)

        counts = steps.run_plan(plan, show)
    click.echo(
        f"Installed {pin.semester} into {layout.prefix} in {time.monotonic() - started:.0f} s: "
        f"{counts['done']} step(s) run, {counts['skipped']} already done. Logs: {layout.logs}"
    )
    click.echo(f"Job scripts: source {layout.env_file}")


@click.group("ood")
def ood_command() -> None:
    """The Open OnDemand app."""


@ood_command.command("deploy")
@click.argument("dest", type=FOLDER)
@FORM_CLUSTERS
@click.option(
    "--site-file",
    type=FILE,
    default=ood.SITE_FILE,
    show_default=True,
    help="Where the templates read their choices from.",
)
@click.option(
    "--portal",
    type=FILE,
    help="The site's ood_portal.yml, to check the settings sessions need (usually /etc/ood/config/ood_portal.yml).",
)
@COMFYUI
@PYTHON
@click.option(
    "--box-dest",
    type=FOLDER,
    help="Where the Box app goes (default: 'box' beside DEST); its folder name is in its address.",
)
@click.option(
    "--box-site-file",
    type=FILE,
    help=f"Where the Box app reads its settings (default: {ood.box_site_file('<its folder name>')}).",
)
@click.option(
    "--classwall-dest",
    type=FOLDER,
    help="Where the Class wall app goes (default: 'classwall' beside DEST); its folder name is in its address.",
)
@click.option(
    "--classwall-site-file",
    type=FILE,
    help="Where the Class wall app reads its settings (default: beside the Box app's, in a folder named "
    "after the app).",
)
@click.option(
    "--course-root",
    "course_roots",
    multiple=True,
    default=ood.COURSE_ROOTS,
    show_default=True,
    help="Where the Class wall app may open course folders (repeatable), e.g. the group folders' place.",
)
def ood_deploy(
    dest: Path,
    clusters: tuple[str, ...],
    site_file: Path,
    portal: Path | None,
    comfyui: str | None,
    python: str | None,
    box_dest: Path | None,
    box_site_file: Path | None,
    classwall_dest: Path | None,
    classwall_site_file: Path | None,
    course_roots: tuple[str, ...],
) -> None:
    """Install the ComfyUI app into DEST with its choices from the cluster profiles.

    DEST is usually /var/www/ood/apps/sys/comfyui. Each other tool of the semester pin
    (InvokeAI, a Gradio app) gets an app of its own beside it, made from the same one.
    Run again after editing a profile or adding a lesson; students see a changed form
    once their dashboard restarts.
    The Box app, where students connect Box from the browser, goes beside it, and so does
    the Class wall app, where instructors build a class's wall from a course folder.
    With --portal it also checks the portal settings and prints the lines to add.
    --comfyui and --python matter only for a profile without a prefix: the ComfyUI its jobs run.
    """
    profiles = [load_profile(name) for name in clusters]
    findings = ood.portal_findings(portal, profiles) if portal else []
    checkout = find_comfyui(comfyui, python) if comfyui and not all(p.prefix for p in profiles) else None
    found = project()
    modules = found.modules
    app, written = ood.deploy(dest, site_file, profiles, modules, app=found.app, comfyui=checkout)
    comfyui_tool, *others = found.tools
    shutil.copyfile(comfyui_tool.picture, app / "icon.png")  # the dashboard shows an app's icon.png
    choices = sum(len(p.gpus) for p in profiles)
    click.echo(
        f"Deployed the app to {app} with {len(modules)} lessons; "
        f"{choices} GPU choices on {', '.join(p.title for p in profiles)} written to {written}."
    )
    for tool in others:  # each tool its own app beside ComfyUI's, made from it, its settings beside ComfyUI's
        tool_app, tool_written = ood.deploy_tool(
            dest.parent / tool.name,
            site_file.parent.parent / tool.name / site_file.name,  # OOD's layout: a folder per app, as ComfyUI's
            tool,
            profiles,
            app=found.app,
            comfyui=checkout,
        )
        click.echo(f"Deployed {tool.title} to {tool_app}; its settings written to {tool_written}.")
    box_dest = box_dest or dest.parent / "box"
    box_app, box_written = ood.deploy_box(
        box_dest, box_site_file or ood.box_site_file(box_dest.name), profiles, app=found.root / ood.BOX_APP
    )
    click.echo(f"Deployed the Box app to {box_app}; its settings written to {box_written}.")
    wall_dest = classwall_dest or dest.parent / "classwall"
    wall_app, wall_written = ood.deploy_classwall(
        wall_dest,
        classwall_site_file or box_written.parent.parent / wall_dest.name / box_written.name,
        profiles,
        modules,
        course_roots,
        app=found.root / ood.CLASSWALL_APP,
    )
    click.echo(
        f"Deployed the Class wall app to {wall_app} with course folders from {', '.join(course_roots)}; "
        f"its settings written to {wall_written}."
    )
    if portal and not findings:
        click.echo(f"{portal}: the portal settings sessions need are all there.")
    for finding in findings:
        click.echo(f"Warning: {finding}", err=True)
    for finding in ood.box_findings(ood.box_config(profiles, box_app.name)):  # a note: the terminal way still works
        click.echo(f"Note: {finding}", err=True)
    if portal and not any(p.compute_nodes for p in profiles):
        click.echo(f"Note: {Finding('ood-portal-nodes-unknown', {})}", err=True)
    if findings:
        click.echo(
            f"Add to {portal}, then run update_ood_portal and restart Apache:\n" + ood.portal_lines(findings), err=True
        )
        sys.exit(1)
