"""Commands for ComfyUI sessions: serve one here, or launch, list and stop them as Slurm jobs."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
from rich.console import Console

from atelier.cli.comfyui import ComfyChoice, tool_server
from atelier.cli.joblog import job_deadline, say_round, stopping, time_stamp
from atelier.cli.lookup import module_folder, project
from atelier.cli.options import (
    CLUSTER,
    COMFYUI_OPTION,
    FILE,
    FOLDER,
    GPU,
    HOURS,
    MODULE,
    OUTPUTS,
    SHARE_GB,
    TOOL,
    USER_FOLDER,
    server_options,
)
from atelier.comfy.server import LOGIN, ComfyServer, panel_copy
from atelier.hpc import slurm
from atelier.hpc.profiles import Profile, load_profile, refuse_too_small
from atelier.keep import backup
from atelier.keep.schedule import Schedule
from atelier.keep.userfolder import SessionCopy, StudentFolder
from atelier.layout import SessionFolder, expand_home
from atelier.lessons.modules import Module, load_module
from atelier.messages import AtelierError, plural
from atelier.tools.declaration import BUILTIN, find_tool
from atelier.tools.server import ToolServer, remove_state


@click.command("serve")
@server_options
@click.option("--port", type=int, default=0, help="Port to listen on (default: a free one).")
@click.option(
    "--listen",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 on a cluster node, so the dashboard can reach it.",
)
@click.option(
    "--workdir",
    type=FOLDER,
    default=Path("atelier-session"),
    show_default=True,
    help="Holds this session's input, user and temp folders and its log.",
)
@OUTPUTS
@click.option(
    "--session-key-file",
    type=FILE,
    help="This session's key: read from this file when it is there (the dashboard app writes it), "
    "else made and kept in it (default: WORKDIR/gate/token).",
)
@MODULE
@click.option(
    "--backup-to",
    envvar="ATELIER_BACKUP_TO",
    help="Back outputs up to this REMOTE:FOLDER (e.g. box:Atelier) [env: ATELIER_BACKUP_TO].",
)
@click.option(
    "--backup-every",
    type=click.IntRange(min=1),
    default=15,
    show_default=True,
    help="With --backup-to: minutes between backups; one more runs when the session ends.",
)
@COMFYUI_OPTION
@SHARE_GB
@USER_FOLDER
@click.option(
    "--local-dir",
    type=FOLDER,
    help="With --user-folder: where this session's copy of it and ComfyUI's database live, on the "
    "node's own disk (default: $TMPDIR, else /tmp).",
)
@TOOL
@click.option(
    "--base",
    default="/",
    show_default=True,
    help="The path the dashboard's proxy serves this session under (/rnode/<host>/<port>/), for a tool "
    "that must know it.",
)
def serve_command(
    comfy: ComfyChoice,
    port: int,
    listen: str,
    workdir: Path,
    outputs: Path | None,
    session_key_file: Path | None,
    module_name: str | None,
    backup_to: str | None,
    backup_every: int,
    options: tuple[str, ...],
    share_gb: int | None,
    user_folder: str | None,
    local_dir: Path | None,
    tool_name: str | None,
    base: str,
) -> None:
    """Start ComfyUI (or another of the semester's tools) behind its login gate until stopped.

    Keeps its own input/user/temp folders in WORKDIR, reads models from the shared
    store, and on Ctrl+C or SIGTERM (Slurm's signal when a session ends) lets the
    running prompt finish before it stops. Inside a Slurm job it also stops by itself
    shortly before the job's time limit. With --backup-to it backs outputs up during
    the session and once more after ComfyUI has stopped, so nothing finished is left.
    With --user-folder, what the student saves in ComfyUI (workflows, settings) is kept
    in that folder and appears in their next session; it is backed up too. With
    --module, that lesson's workflow is in ComfyUI's Workflows panel. With --tool, another
    tool of the semester starts instead, on 127.0.0.1 behind the same gate.
    """
    # ComfyUI needs no look at the project's tools/: a session of it starts as it always has.
    tool = find_tool(project().tools, tool_name) if tool_name and tool_name != BUILTIN else None
    title = tool.title if tool else "ComfyUI"
    keeping: StudentSession | None = None
    server: ComfyServer | ToolServer
    if tool is None:
        comfy.install()  # a missing ComfyUI is said before the student's folder is copied
        keeping = StudentSession.open(user_folder, local_dir) if user_folder else None
        server = comfy.server(
            workdir,
            port=port,
            listen=listen,
            options=options,
            key_file=session_key_file,
            outputs=outputs,
            user_dir=keeping.copy.local if keeping else None,
            input_dir=keeping.copy.student.input if keeping else None,
            share_gb=share_gb,
        )
    else:
        if module_name:
            raise click.UsageError(f"--module names a ComfyUI lesson; {tool.title} takes none")
        if local_dir:
            local_dir.mkdir(parents=True, exist_ok=True)
        server = tool_server(
            tool,
            workdir,
            port=port,
            listen=listen,
            key_file=session_key_file,
            outputs=outputs,
            models=comfy.models,
            base=base,
            keep=expand_home(user_folder) / tool.name if user_folder else None,
            # On the node's own disk: its database is SQLite.
            state=Path(tempfile.mkdtemp(prefix=f"atelier-{tool.name}-", dir=local_dir)),
        )
    schedule = (
        Schedule(
            server.output_dir,
            backup.Target.parse(backup_to),
            backup_every,
            user_folder=keeping.copy.student.root if keeping else None,
        )
        if backup_to
        else None
    )
    stop_at = job_deadline(margin=server.drain_seconds + (180 if schedule else 60))  # time to drain, and back up
    # Asked before ComfyUI starts: a session ended at any moment after this still backs up as it stops.
    remote_missing = _remote_missing(schedule) if schedule else None
    backing_up = bool(schedule) and not remote_missing
    try:
        started = time.monotonic()
        if module_name:  # before ComfyUI listens: the student may open it the moment the port answers
            module = load_module(module_folder(module_name))
            if keeping:
                keeping.offer(module)
            else:
                server.offer_workflow(module)
        url = server.start()
        # The card(s) Slurm gave this session, and its share: status and the tests read them here.
        server.write_connection(gpus=os.environ.get("CUDA_VISIBLE_DEVICES"), share_gb=share_gb)
        click.echo(
            f"{time_stamp()} {title} is ready at {url} ({time.monotonic() - started:.1f} s). "
            f"Outputs: {server.output_dir}"
        )
        click.echo(f"{time_stamp()} Open {url}{LOGIN} and paste the session key kept in {server.token_file}.")
        if schedule:
            _say_backups(schedule.later(), remote_missing)
        while server.alive():
            if stop_at and time.time() >= stop_at:
                click.echo(
                    f"{time_stamp()} The session's time is nearly up: stopping {title}"
                    + (" after the running prompt." if tool is None else ".")
                )
                return
            if backing_up and schedule.is_due():
                say_round(schedule.round())
            if keeping:
                keeping.sync_if_due()
            if isinstance(server, ToolServer):
                server.sync_if_due()
            time.sleep(1)
        raise AtelierError("server-died")
    finally:
        stopping()
        server.stop()
        if keeping:
            keeping.close()
        click.echo(f"{time_stamp()} {title} stopped. Outputs are in {server.output_dir}")
        if isinstance(server, ToolServer):
            remove_state(server)
        if backing_up and schedule:
            say_round(schedule.round(final=True))


@dataclass
class StudentSession:
    """`serve`'s side of the student's own ComfyUI folder: seed the session's copy, keep it in
    step every few seconds, and say what happened in the session's log."""

    copy: SessionCopy
    every: float = 5.0  # seconds between syncs: what a killed job can lose at most
    due: float = 0.0

    @classmethod
    def open(cls, user_folder: str, local_dir: Path | None) -> StudentSession:
        student = StudentFolder(expand_home(user_folder))
        base = local_dir or Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        local = Path(tempfile.mkdtemp(prefix="atelier-comfyui-", dir=base))  # mode 700
        job = os.environ.get("SLURM_JOB_ID")
        label = f"session {job}" if job else f"session {time.strftime('%Y-%m-%d %H.%M')}"
        copy = SessionCopy(student, local / "user", label)
        found = copy.seed()
        click.echo(
            f"{time_stamp()} Your ComfyUI folder is {student.root} "
            f"({plural(found, 'saved file')}); this session works on a copy in {local}."
        )
        session = cls(copy)
        session.due = time.monotonic() + session.every
        return session

    def offer(self, module: Module) -> None:
        placed = self.copy.offer(module.file_name, panel_copy(module))
        if Path(placed).name != module.file_name:
            click.echo(
                f"{time_stamp()} Your own {module.file_name} stays as you saved it; "
                f"the lesson's is in the Workflows panel as {Path(placed).name}."
            )

    def sync_if_due(self) -> None:
        if time.monotonic() >= self.due:
            self.sync()
            self.due = time.monotonic() + self.every

    def sync(self, final: bool = False) -> bool:
        """One sync, reported; False when it failed or left a file behind (the copy here still holds it)."""
        try:
            done = self.copy.sync(final=final)
        except AtelierError as err:
            click.echo(f"{time_stamp()} {err}")
            return False
        except OSError as err:
            problem = AtelierError("user-folder-unwritable", folder=self.copy.student.root, detail=err.strerror or err)
            click.echo(f"{time_stamp()} {problem}")
            return False
        for name, other in done.kept_both:
            click.echo(
                f"{time_stamp()} {Path(name).name} was changed in another session too: this session's "
                f"is kept beside it as {Path(other).name}."
            )
        for name, other in done.kept_theirs:
            click.echo(
                f"{time_stamp()} {Path(name).name} had been changed in another session: that version is "
                f"kept beside this one as {Path(other).name}."
            )
        if done.sent or done.deleted or done.merged:
            click.echo(
                f"{time_stamp()} Kept in your ComfyUI folder: "
                + ", ".join(
                    [
                        *done.sent,
                        *(f"{d} (deleted; a copy is in deleted/)" for d in done.deleted),
                        *(f"{m} (merged)" for m in done.merged),
                    ]
                )
            )
        return not (final and done.waiting)

    def close(self) -> None:
        """The last sync after ComfyUI stopped; the copy here is removed only once it is kept."""
        if self.sync(final=True):
            shutil.rmtree(self.copy.local.parent, ignore_errors=True)
        else:
            click.echo(f"{time_stamp()} This session's copy stays in {self.copy.local} until it can be kept.")


def _remote_missing(schedule: Schedule) -> AtelierError | None:
    """Why backups are off (this person has not connected the remote), or None: a session without it runs."""
    try:
        schedule.check_remote()
    except AtelierError as err:
        return err
    return None


def _say_backups(schedule: Schedule, missing: AtelierError | None) -> None:
    if missing:
        click.echo(f"{time_stamp()} Backups are off: {missing}")
        return
    what = f" and your saved workflows to {schedule.target.path(backup.COMFYUI)}" if schedule.user_folder else ""
    click.echo(
        f"{time_stamp()} Backing up outputs to {schedule.target.path(backup.OUTPUTS)}{what} during the "
        f"session and once more when it ends."
    )


@click.command("launch")
@CLUSTER
@GPU
@HOURS
@MODULE
@OUTPUTS
@click.option("--workdir", type=FOLDER, help="The session's folder (default: ~/atelier-sessions/<date-time>).")
@click.option(
    "--wait",
    type=float,
    default=600,
    show_default=True,
    help="Seconds to wait for the session to start before leaving it queued.",
)
@USER_FOLDER
def launch_command(
    cluster: str,
    gpu: str | None,
    hours: float | None,
    module_name: str | None,
    outputs: Path | None,
    workdir: Path | None,
    wait: float,
    user_folder: str | None,
) -> None:
    """Start ComfyUI as a Slurm job and say how to open it.

    For people who use a terminal; students use the dashboard's ComfyUI app. With
    --module, that lesson's workflow is in ComfyUI's Workflows panel.
    """
    profile = load_profile(cluster)
    if user_folder:
        profile = dataclasses.replace(profile, user_folder=user_folder)
    choice, limit = profile.gpu(gpu), profile.hours(hours)
    if module_name:  # a wrong name fails here, not in the job; the job gets the folder's full path
        lesson = load_module(module_folder(module_name))
        refuse_too_small(profile, choice, lesson.title, lesson.about.gpu_memory_gb)
        module_name = str(lesson.folder.resolve())
    folder = (workdir or Path.home() / "atelier-sessions" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    script = slurm.job_script(profile, choice, limit, folder, str(outputs or profile.outputs), module_name)
    job_id = slurm.submit(script, folder)
    click.echo(
        f"Submitted job {job_id} to {profile.title} ({choice.title}, {limit:g} h). Log: {SessionFolder(folder).job_log}"
    )
    with Console(stderr=True).status("Waiting for the session to start") as status:

        def show(current: slurm.Session) -> None:
            status.update(
                f"Job {job_id}: {current.state.lower()}" + (f" ({current.reason})" if current.reason else "") + " ..."
            )

        current = slurm.wait_until_ready(job_id, folder, wait, show)
    _print_session(profile, current)


def _print_session(profile: Profile, current: slurm.Session) -> None:
    ways = slurm.open_instructions(profile, current)
    click.echo(f"ComfyUI is running on {current.node} as job {current.job_id}.")
    if "dashboard" in ways:
        click.echo(f"  In the browser: {ways['dashboard']}")
    if "tunnel" in ways:
        click.echo(f"  From your computer: run  {ways['tunnel']}  then open {ways['local']}")
    else:
        click.echo(f"  Open {ways['local']}")
    click.echo(f"  The login page asks for the session key kept in {ways['key']}")
    click.echo(f"  Stop it with: atelier stop {current.job_id}")


@click.command("status")
@CLUSTER
def status_command(cluster: str) -> None:
    """List your ComfyUI sessions and how to open them (the cluster profile gives the links)."""
    profile = load_profile(cluster)
    found = slurm.sessions()
    if not found:
        click.echo("You have no ComfyUI sessions.")
        return
    for current in found:
        left = f", {current.time_left} left" if current.time_left else ""
        click.echo(f"Job {current.job_id}: {current.state.lower()}{left}; folder {current.workdir}")
        if current.connection and current.state == "RUNNING":
            _print_session(profile, current)


@click.command("stop")
@click.argument("job_id")
def stop_command(job_id: str) -> None:
    """End a ComfyUI session; the running prompt finishes first."""
    if job_id not in {current.job_id for current in slurm.sessions()}:
        raise AtelierError("session-unknown", job=job_id)
    slurm.cancel(job_id)
    click.echo(f"Stopping job {job_id}: ComfyUI finishes the running prompt, then the session ends.")
