"""Starting and stopping a ComfyUI server with the project's settings.

Every caller (tests, `atelier run`/`check`/`bench`, the Open OnDemand app) needs the same
thing: ComfyUI from a given checkout, on 127.0.0.1 and a free port, with its own
input/output/user/temp folders, no browser, no online-service nodes, and a clean stop.
One class does it so that they all behave alike.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from atelier.comfy.client import ComfyClient
from atelier.layout import SETTINGS, WORKFLOWS, Layout, SessionFolder
from atelier.lessons.modules import Module, tagged
from atelier.messages import AtelierError

MODEL_FOLDERS = (
    "checkpoints",
    "loras",
    "vae",
    "text_encoders",
    "clip",
    "diffusion_models",
    "unet",
    "controlnet",
    "upscale_models",
    "clip_vision",
    "embeddings",
    "style_models",
    "audio_encoders",
    "model_patches",
)


EXTENSIONS = Path(__file__).with_name("extensions")
GATE = EXTENSIONS / "atelier_gate"
DRAIN = EXTENSIONS / "atelier_drain"  # finishes the running prompt on SIGTERM
BENCH = EXTENSIONS / "atelier_bench"  # peak memory, for `atelier bench` only
COMPARE = EXTENSIONS / "atelier_compare"  # the Compare page: `atelier compare` from the browser
MODEL_STORE = EXTENSIONS / "atelier_models"  # custom nodes that read ComfyUI/models/<folder> read the store's
SPACE = EXTENSIONS / "atelier_space"  # toasts in the page when the folders the work goes to are (nearly) full
SHARE = EXTENSIONS / "atelier_share"  # on a share of a card (a shard): keeps ComfyUI within the share's memory
# What the gate and drain extensions hold copies of, since ComfyUI's Python cannot import atelier
# (tests/unit/test_copies.py holds them to these).
LOGIN = "/atelier/login"  # where a browser presents the session key to the gate
KEY_LEAST = 22  # the shortest session key the gate accepts: 128 bits in URL-safe base64
DRAIN_SECONDS = 25.0  # how long a stop waits for the running prompt
# Nothing a session runs may fetch from the web: a node whose model is missing fails instead of downloading it.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "DO_NOT_TRACK": "1"}


# ComfyUI options a cluster profile may set per GPU (`comfyui_args`) and `atelier bench --study`
# compares: speed and precision only. Nothing that changes where ComfyUI listens or what it loads.
# Each group is one of ComfyUI's mutually exclusive groups: two from a group stop it at start.
TUNING_GROUPS = (
    (
        "--use-split-cross-attention",
        "--use-quad-cross-attention",
        "--use-pytorch-cross-attention",
        "--use-sage-attention",
        "--use-flash-attention",
    ),
    ("--force-fp16", "--force-fp32"),
    ("--fp16-unet", "--bf16-unet"),
    ("--fp32-vae", "--fp16-vae", "--bf16-vae"),
    ("--fp16-text-enc", "--fp32-text-enc"),
    ("--lowvram", "--normalvram", "--highvram", "--gpu-only", "--cpu"),  # --cpu: a choice without a GPU
    ("--fast",),
    ("--disable-smart-memory",),
    ("--force-channels-last",),
)
TUNING_OPTIONS = tuple(option for group in TUNING_GROUPS for option in group if option != "--cpu")


def tuning(args: list[str] | tuple[str, ...], where: str, cpu: bool = False) -> list[str]:
    """The options, if ComfyUI may be given them here together; `where` names their source."""
    for arg in args:
        if arg not in TUNING_OPTIONS:
            raise AtelierError("comfyui-option-refused", option=arg, where=where, allowed=", ".join(TUNING_OPTIONS))
    for group in TUNING_GROUPS:
        clash = [arg for arg in [*args, *(["--cpu"] if cpu else [])] if arg in group]
        if len(clash) > 1:
            raise AtelierError("comfyui-options-clash", first=clash[0], second=clash[1], where=where)
    return list(args)


def write_model_paths(store: Path | None, config: Path, gate: bool = False) -> Path:
    """An extra_model_paths.yaml: models from the shared `store`, and the login gate."""
    lines = ["# Written by atelier: where ComfyUI finds models and the login gate.", "atelier:"]
    if store:
        lines.append(f"  base_path: {store.resolve()}")
        lines += [f"  {folder}: {folder}" for folder in MODEL_FOLDERS]
    if gate:
        lines.append(f"  custom_nodes: {EXTENSIONS.resolve()}")  # absolute, so base_path does not apply
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def _log_ends(log: Path) -> str:
    """The last line of ComfyUI's log, where its own reason for stopping usually is."""
    lines = (
        [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        if log.is_file()
        else []
    )
    return f"; its log ends: {lines[-1][:300].rstrip('.')}" if lines else ""


def session_key(path: Path, read: bool, made: str | None = None) -> str:
    """The session's key: with `read`, the one already in `path` (the OOD app makes it); else a new one
    (or `made`) written there, readable by its owner only."""
    if read and path.is_file():
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < KEY_LEAST:
            raise AtelierError("gate-key-short", file=path)
        return token
    token = made or secrets.token_urlsafe(32)  # 256 bits
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(token, encoding="utf-8")
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_comfyui(
    directory: str | None = None, python: str | None = None, prefix: str | None = None
) -> tuple[Path, Path]:
    """(checkout, the Python that runs it): the ones given (the command line reads COMFYUI_DIR and
    COMFYUI_PYTHON), else an `atelier install` prefix's (ATELIER_PREFIX): its ComfyUI and comfyui-venv.
    """
    raw = directory
    if not raw and prefix:
        layout = Layout.of(Path(prefix))
        raw, python = str(layout.comfyui), python or str(layout.comfyui_python)
    if not raw or not (Path(raw) / "main.py").is_file():
        raise AtelierError("comfyui-missing", path=raw or "COMFYUI_DIR (not set)")
    checkout = Path(raw).resolve()
    interpreter = python
    if not interpreter:
        candidates = [checkout / ".venv" / "bin" / "python", checkout / "venv" / "bin" / "python"]
        interpreter = str(next((c for c in candidates if c.exists()), "python3"))
    return checkout, Path(interpreter)


# ComfyUI's settings for a new session. The first-visit gallery of templates would cover
# the canvas in every session (each has its own user folder) and offers workflows that are
# not this semester's lessons. The missing-models dialog asks huggingface.co for file
# sizes from the student's browser: nothing may leave the university, and the shared
# store, not the student, supplies models.
FIRST_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Workflow.ShowMissingModelsWarning": False}


def panel_copy(module: Module) -> bytes:
    """A lesson's workflow as the Workflows panel offers it: tagged with its lesson, so what
    the student makes with it is filed under it."""
    return json.dumps(tagged(module.workflow, module.slug), indent=1).encode()


class SessionPlaces:
    """Where any session (ComfyUI's, or a tool's behind the standalone gate) answers and keeps its key and
    outputs, found the same way for both; the subclass holds workdir, key_file, outputs, port and listen."""

    workdir: Path
    key_file: Path | None
    outputs: Path | None
    port: int
    listen: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def folder(self) -> SessionFolder:
        return SessionFolder(self.workdir)

    @property
    def token_file(self) -> Path:
        return self.key_file or self.folder.key_file

    @property
    def output_dir(self) -> Path:
        return self.outputs or self.folder.output

    def write_connection(self, **extra: object) -> Path:
        """`connection.json`: where this session answers, for `atelier launch` and `status`."""
        host = "127.0.0.1" if self.listen == "127.0.0.1" else socket.getfqdn()
        record = {"host": host, "port": self.port, "outputs": str(self.output_dir), **extra}
        path = self.folder.connection
        path.write_text(json.dumps({**record, "pid": os.getpid(), "started": time.time()}), encoding="utf-8")
        return path


@dataclass
class ComfyServer(SessionPlaces):
    """A ComfyUI process; use as a context manager, or call start() and stop()."""

    checkout: Path
    python: Path
    workdir: Path  # the session's folder (layout.SessionFolder): input/, output/, user/, temp/, comfyui.log
    port: int = 0
    cpu: bool = False
    models: Path | None = None  # the shared model store
    gate: bool = True  # the login gate; off only where nothing but this process can connect
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    token: str | None = None  # this session's key, when the gate is on
    listen: str = "127.0.0.1"  # 0.0.0.0 on a cluster node, where the dashboard's proxy must reach it
    key_file: Path | None = None  # a key made by someone else (the OOD app); default: made here
    outputs: Path | None = None  # default: <workdir>/output
    drain_seconds: float = DRAIN_SECONDS
    bench: bool = False  # load the memory sampler for `atelier bench`
    custom_nodes: tuple[str, ...] = ()  # the semester's pinned custom nodes, by folder name, that may load
    # ComfyUI's user folder (settings, saved workflows, its SQLite database) and its uploads.
    # Defaults: in the session's folder. `serve` gives a copy on the node's own disk of the
    # student's folder, kept in step by keep/userfolder.py, and the student's upload folder.
    user_dir: Path | None = None
    input_dir: Path | None = None
    share_gb: int | None = None  # a share of a card Slurm does not fence (a shard): extension atelier_share keeps to it

    def __post_init__(self) -> None:
        # ComfyUI runs in its checkout, so a relative path given here would point there.
        self.workdir = self.workdir.resolve()
        self.key_file = self.key_file.resolve() if self.key_file else None
        self.outputs = self.outputs.resolve() if self.outputs else None
        self.models = self.models.resolve() if self.models else None
        self.user_dir = self.user_dir.resolve() if self.user_dir else None
        self.input_dir = self.input_dir.resolve() if self.input_dir else None

    @property
    def log(self) -> Path:
        return self.folder.comfyui_log

    @property
    def user_folder(self) -> Path:
        return self.user_dir or self.folder.user

    @property
    def input_folder(self) -> Path:
        return self.input_dir or self.folder.input

    @property
    def database(self) -> Path:
        """ComfyUI's SQLite file: with the user folder, never in the shared install's checkout (its default)."""
        return self.user_folder / "comfyui.db"

    def client(self, timeout: float = 30.0) -> ComfyClient:
        return ComfyClient(self.url, timeout=timeout, token=self.token)

    def _prepare(self) -> Path:
        """Folders, the session key (readable by its owner only) and the model paths config."""
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)  # new folders: the owner's only
        self.folder.temp.mkdir(exist_ok=True)
        for folder in (self.input_folder, self.user_folder, self.output_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings = self.user_folder / SETTINGS
        if not settings.exists():  # each session is new to ComfyUI: skip its first-visit template gallery
            settings.parent.mkdir(parents=True, exist_ok=True)
            settings.write_text(json.dumps(FIRST_SETTINGS, indent=1), encoding="utf-8")
        if self.gate:
            self.token = session_key(self.token_file, read=self.key_file is not None, made=self.token)
        return write_model_paths(self.models, self.folder.model_paths, gate=self.gate)

    def command(self) -> list[str]:
        args = [
            str(self.python),
            "main.py",
            "--listen",
            self.listen,
            "--port",
            str(self.port),
            "--input-directory",
            str(self.input_folder),
            "--output-directory",
            str(self.output_dir),
            "--user-directory",
            str(self.user_folder),
            "--database-url",
            f"sqlite:///{self.database}",
            "--temp-directory",
            str(self.folder.temp),
            "--disable-auto-launch",
            "--disable-api-nodes",  # nothing leaves the university
        ]
        if self.cpu:
            args.append("--cpu")
        args += ["--extra-model-paths-config", str(self.folder.model_paths)]
        # Only our extensions and the semester's pinned custom nodes load: a custom node
        # dropped into the checkout never runs.
        ours = [
            GATE.name,
            DRAIN.name,
            COMPARE.name,
            MODEL_STORE.name,
            SPACE.name,
            *([BENCH.name] if self.bench else []),
            *([SHARE.name] if self.share_gb else []),
        ]
        args += (
            ["--disable-all-custom-nodes", "--whitelist-custom-nodes", *ours, *self.custom_nodes] if self.gate else []
        )
        return args + self.extra_args

    def compare_env(self) -> dict[str, str]:
        """What the Compare page needs and ComfyUI's Python lacks: this atelier's interpreter (it runs
        `atelier compare`), the outputs folder, and the one message it must say when that interpreter fails
        without a message of its own."""
        return {
            "ATELIER_PYTHON": sys.executable,
            "ATELIER_OUTPUTS": str(self.output_dir),
            "ATELIER_COMPARE_FAILED": str(AtelierError("compare-failed")),
        }

    def space_env(self) -> dict[str, str]:
        """What the free-space notices need: the folders the work goes to (the outputs, ComfyUI's user
        folder, the uploads, which `serve` keeps in the student's folder) and the message catalogue's two
        sentences, with their blanks left for the extension to fill."""
        folders = [self.output_dir, self.user_folder, self.input_folder]
        return {
            "ATELIER_SPACE_FOLDERS": os.pathsep.join(str(folder) for folder in folders),
            "ATELIER_FOLDER_LOW": str(AtelierError("folder-low", free="{free}", folder="{folder}")),
            "ATELIER_FOLDER_FULL": str(AtelierError("folder-full", node="{node}", title="{title}")),
        }

    def share_env(self) -> dict[str, str]:
        """On a share of a card: its size, and the catalogue's sentence for a share that is full."""
        if not self.share_gb:
            return {}
        return {
            "ATELIER_SHARE_GB": str(self.share_gb),
            "ATELIER_SHARE_FULL": str(AtelierError("share-full", share="{share}")),
        }

    def start(self, timeout: float = 120.0) -> str:
        """Start ComfyUI and return its URL once it answers."""
        self.port = self.port or free_port()
        self._prepare()
        env = {
            **os.environ,
            **OFFLINE,
            "ATELIER_GATE_TOKEN_FILE": str(self.token_file),
            "ATELIER_DRAIN_SECONDS": str(self.drain_seconds),
            **self.compare_env(),
            **self.space_env(),
            **self.share_env(),
            **({"ATELIER_MODEL_STORE": str(self.models.resolve())} if self.models else {}),
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.checkout,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        client = self.client(timeout=2.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AtelierError(
                    "server-start-failed",
                    log=self.log,
                    reason=f"it exited with code {self.process.returncode}{_log_ends(self.log)}",
                )
            try:
                client.get_json("/system_stats")
            except AtelierError:
                time.sleep(0.25)
                continue
            if self.gate and self._answers_strangers():
                self.stop()
                raise AtelierError("gate-missing", extensions=GATE.parent)
            return self.url
        self.stop()
        raise AtelierError("server-start-failed", reason=f"it did not answer within {timeout:.0f} s", log=self.log)

    def _answers_strangers(self) -> bool:
        """Whether a request without the session cookie gets through (it must not)."""
        try:
            ComfyClient(self.url, timeout=2.0).get_json("/system_stats")
        except AtelierError as err:
            return err.code != "gate-refused"
        return True

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float | None = None) -> None:
        """SIGTERM, then SIGKILL if it outlives the drain: the running prompt gets to finish."""
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=self.drain_seconds + 5 if grace is None else grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def offer_workflow(self, module: Module) -> Path:
        """Put a lesson's workflow in the session's Workflows panel, ready to open."""
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)  # as _prepare would: the owner's only
        folder = self.user_folder / WORKFLOWS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / module.file_name
        path.write_bytes(panel_copy(module))
        return path

    def __enter__(self) -> ComfyServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:  # stops whatever ended the block
        self.stop()
