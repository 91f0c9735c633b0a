"""Commands for maintainers: install the semester's software, fetch models, deploy the OOD app."""

from __future__ import annotations

import sys
import time
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

from atelier.lessons.pin import load_lock
from atelier.comfy.server import find_comfyui
from atelier.hpc.profiles import load_profile
from atelier.hpc import ood
from atelier.hpc import install
from atelier.hpc.store import ModelFile, declared, fetch, verify
from atelier.cli.options import pick_modules
from atelier.messages import AtelierError, Finding
from atelier.cli.options import project



@click.group("models")
def models_command() -> None:
    """The shared model store."""


@models_command.command("fetch")
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
    wanted = declared(pick_modules(() if everything else names))
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        current: list[int] = []

        def start(model: ModelFile, size: int) -> None:
            current[:] = [bar.add_task(model.name, total=size or None)]

        results = fetch(wanted, store, start, lambda n: bar.advance(current[0], n))
    for name, outcome in sorted(results.items()):
        click.echo(f"{outcome:>10}  {name}")


@models_command.command("verify")
@click.option("--module", "names", multiple=True, help="Only the models of these modules (repeatable; default: all).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), envvar="ATELIER_MODELS", required=True,
              help="The model store to check [env: ATELIER_MODELS].")
def models_verify(names: tuple[str, ...], store: Path) -> None:
    """Read every model file again and compare it with its published sha256.

    Trusts no earlier record: a file changed in place, even with its time kept, is
    found. A file that differs is moved to STORE/.changed/DATE/, where ComfyUI does
    not look. Exits 1 when any file is missing or changed.
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
            found = Finding("models-verify-changed", {"file": target, "expected": verdict.model.sha256,
                                                      "got": verdict.got, "moved": verdict.moved})
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


@click.command("install")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path),
              help="The folder to install into, one per semester (default: the cluster profile's prefix).")
@click.option("--cluster", help="A cluster profile (clusters/NAME.yaml) naming the prefix and the shared model store.")
@click.option("--source", default=install.COMFYUI_SOURCE, show_default=True,
              help="The ComfyUI git repository to clone: a site mirror, or a local path or file:// URL.")
@click.option("--cpu", is_flag=True, help="Install the CPU build of PyTorch (machines without an NVIDIA GPU).")
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The semester pin to install (default: the project's workflows/lock.yaml).")
@click.option("--dry-run", is_flag=True, help="Print every step and whether it would be skipped; change nothing.")
def install_command(prefix: Path | None, cluster: str | None, source: str, cpu: bool, lock_path: Path | None,
                    dry_run: bool) -> None:
    """Install the semester's pinned ComfyUI, custom nodes and atelier.

    Installs exactly what workflows/lock.yaml pins into one folder, getting ComfyUI
    with comfy-cli (telemetry off). Run it again at any time: finished steps are
    skipped, and an interrupted install carries on where it stopped.
    """
    layout = install.layout_for(prefix, cluster)
    if layout is None:
        raise click.UsageError("give --prefix DIR, or --cluster NAME whose profile names a prefix")
    pin = load_lock(lock_path or project().lock_path)
    plan = install.build_plan(pin, layout, source=source, cpu=cpu)
    out = Console()
    if dry_run:
        out.print(f"Install plan for {pin.semester} into {layout.prefix} (dry run: nothing is changed)",
                  highlight=False, soft_wrap=True)
        todo = 0
        for number, (step, finished) in enumerate(install.pending(plan), 1):
            todo += not finished
            mark = "[dim]skip: already done[/]" if finished else "[bold]would run[/]"
            out.print(f"{number:>3}. {step.title}  {mark}", highlight=False, soft_wrap=True)
            for line in install.describe(step):
                out.print(f"       {line}", highlight=False, markup=False, soft_wrap=True)
        out.print(f"{todo} step(s) would run, {len(plan.steps) - todo} already done. Logs would go to {layout.logs}.",
                  highlight=False, soft_wrap=True)
        return
    started = time.monotonic()
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("install", total=len(plan.steps))

        def show(step: install.Step, state: str) -> None:
            if state == "running":
                bar.update(task, description=step.title)
                return
            mark = "[green]done[/]   " if state == "done" else "[dim]skipped[/]"
            bar.console.print(f"{mark} {step.title}", highlight=False)
            bar.advance(task)

        counts = install.run_plan(plan, show)
    click.echo(f"Installed {pin.semester} into {layout.prefix} in {time.monotonic() - started:.0f} s: "
               f"{counts['done']} step(s) run, {counts['skipped']} already done. Logs: {layout.logs}")
    click.echo(f"Job scripts: source {layout.env_file}")


@click.group("ood")
def ood_command() -> None:
    """The Open OnDemand app."""


@ood_command.command("deploy")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--cluster", "clusters", multiple=True, default=("cerberus", "pegasus"), show_default=True,
              help="The cluster profiles the form offers (repeatable).")
@click.option("--site-file", type=click.Path(dir_okay=False, path_type=Path), default=ood.SITE_FILE,
              show_default=True, help="Where the templates read their choices from.")
@click.option("--portal", type=click.Path(dir_okay=False, path_type=Path),
              help="The site's ood_portal.yml, to check the settings sessions need (usually /etc/ood/config/ood_portal.yml).")
@click.option("--comfyui", envvar="COMFYUI_DIR",
              help="For a profile without a prefix only: the ComfyUI checkout its jobs run [env: COMFYUI_DIR].")
@click.option("--python", envvar="COMFYUI_PYTHON",
              help="For a profile without a prefix only: the Python that runs it [env: COMFYUI_PYTHON].")
@click.option("--box-dest", type=click.Path(file_okay=False, path_type=Path),
              help="Where the Box app goes (default: 'box' beside DEST); its folder name is in its address.")
@click.option("--box-site-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the Box app reads its settings (default: /etc/ood/config/apps/<its folder name>/atelier.json).")
def ood_deploy(dest: Path, clusters: tuple[str, ...], site_file: Path, portal: Path | None,
               comfyui: str | None, python: str | None, box_dest: Path | None, box_site_file: Path | None) -> None:
    """Install the ComfyUI app into DEST with its choices from the cluster profiles.

    DEST is usually /var/www/ood/apps/sys/comfyui. Run again after editing a profile
    or adding a lesson; students see a changed form once their dashboard restarts.
    The Box app, where students connect Box from the browser, goes beside it.
    With --portal it also checks the portal settings and prints the lines to add.
    """
    profiles = [load_profile(name) for name in clusters]
    findings = ood.portal_findings(portal, profiles) if portal else []
    checkout = find_comfyui(comfyui, python) if comfyui and not all(p.prefix for p in profiles) else None
    found = project()
    modules = found.modules
    app, written = ood.deploy(dest, site_file, profiles, modules, app=found.app, comfyui=checkout)
    choices = sum(len(p.gpus) for p in profiles)
    click.echo(f"Deployed the app to {app} with {len(modules)} lessons; "
               f"{choices} GPU choices on {', '.join(p.title for p in profiles)} written to {written}.")
    box_dest = box_dest or dest.parent / "box"
    box_app, box_written = ood.deploy_box(box_dest, box_site_file or ood.box_site_file(box_dest.name), profiles,
                                          app=found.root / ood.BOX_APP)
    click.echo(f"Deployed the Box app to {box_app}; its settings written to {box_written}.")
    if portal and not findings:
        click.echo(f"{portal}: the portal settings sessions need are all there.")
    for finding in findings:
        click.echo(f"Warning: {finding}", err=True)
    for finding in ood.box_findings(ood.box_config(profiles, box_app.name)):  # a note: the terminal way still works
        click.echo(f"Note: {finding}", err=True)
    if findings:
        click.echo(f"Add to {portal}, then run update_ood_portal and restart Apache:\n"
                   + ood.portal_lines(findings), err=True)
        sys.exit(1)

