"""Cluster profiles: every site-specific value, one YAML file per cluster.

Everything site-specific (partitions, GPU types and their gres strings, limits, paths)
lives in a cluster profile, `clusters/<name>.yaml`; code and prose never hold it. The
same profile gives `atelier launch` its sbatch options and the Open OnDemand form its
choices (through `atelier ood deploy`), so the two can never disagree; `serve_args` is
the one place the session's `atelier serve` command is worked out, for both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.comfy.server import tuning
from atelier.fields import Fields, of_type
from atelier.files import read_yaml
from atelier.keep.backup import Settings as BackupSettings
from atelier.keep.backup import settings_from
from atelier.layout import OUTPUTS, USER_FOLDER, Layout
from atelier.messages import AtelierError

CLUSTERS = Path(__file__).resolve().parent.parent / "clusters"  # data, beside the package's code


SHARES = {
    "shard": "Slurm's gres/shard: several sessions on one card, memory not fenced by Slurm (Atelier fences it)",
    "mig": "a MIG slice: the card split by the hardware, memory and compute fenced",
}


@dataclass(frozen=True)
class Gpu:
    """One choice on the form: where the job goes and what it asks Slurm for."""

    name: str
    title: str
    partition: str
    gres: str | None  # None: no GPU, ComfyUI runs on the CPU
    memory_gb: int  # the card's, or for a share the share's
    comfyui_args: tuple[str, ...] = ()  # speed options for this card, from `atelier bench --study`
    share: str | None = None  # None: a whole card; else one of SHARES
    of: str | None = None  # a share's card: the whole-GPU choice it divides
    per_gpu: int = 1  # sessions one card holds at once with this choice
    stand_in: bool = False  # the test cluster's stand-in card: Slurm allocates it, ComfyUI runs on the CPU

    @property
    def cpu(self) -> bool:
        """ComfyUI runs with --cpu: no GPU asked for, or only a stand-in one."""
        return self.gres is None or self.stand_in

    @property
    def fence_gb(self) -> int | None:
        """The memory a session must keep within itself: a shard's (Slurm does not fence it), else None."""
        return self.memory_gb if self.share == "shard" else None


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    ood_cluster: str
    login_host: str | None
    ondemand_url: str | None
    account: str | None
    max_hours: int
    default_hours: int
    cpus_per_gpu: int
    memory_per_gpu_gb: int
    gpus: dict[str, Gpu]
    default_gpu: str
    modules: list[str]
    prefix: Path | None  # None: use the atelier and ComfyUI this process runs with
    models: Path | None
    scratch: str
    outputs: str
    internet_on_compute: bool
    file: Path
    backup: BackupSettings = BackupSettings()
    account_url: str | None = None  # where a student asks for an account (Start here)
    support: str | None = None  # whom students write to when stuck (Start here)
    # The student's own ComfyUI folder, kept between sessions: saved workflows, settings, uploads.
    user_folder: str = USER_FOLDER
    # The site's mirrors, for `atelier install` (None: GitHub, and pip's own settings).
    comfyui_source: str | None = None  # a git mirror of ComfyUI's repository
    package_index: str | None = None  # the site's Python package index
    torch_index: str | None = None  # an index holding PyTorch's builds, where PyPI's is not wanted
    custom_node_sources: dict[str, str] = field(default_factory=dict)  # a custom node's folder name: its mirror
    # Some compute nodes' names as `hostname` prints them in a job: the portal check holds
    # the dashboard proxy's host_regex to them.
    compute_nodes: tuple[str, ...] = ()
    for_tests: bool = False  # the test machine's own cluster: never shown to students, whatever it holds
    gpu_hour_cost: float | None = None  # what one GPU-hour costs the course, for the class plan (None: not known)

    def gpu(self, name: str | None) -> Gpu:
        choice = name or self.default_gpu
        if choice not in self.gpus:
            raise AtelierError("cluster-gpu-unknown", gpu=choice, cluster=self.name, choices=", ".join(self.gpus))
        return self.gpus[choice]

    def hours(self, hours: float | None) -> float:
        wanted = self.default_hours if hours is None else hours
        if not 0 < wanted <= self.max_hours:
            raise AtelierError("cluster-hours", hours=wanted, cluster=self.name, most=self.max_hours)
        return wanted


def profile_names() -> list[str]:
    return sorted(path.stem for path in CLUSTERS.glob("*.yaml"))


def all_profiles() -> list[Profile]:
    return [load_profile(name) for name in profile_names()]


def installed_profiles(profiles: list[Profile] | None = None) -> list[Profile]:
    """The clusters students use: those with an install, never a profile marked for tests."""
    return [p for p in (all_profiles() if profiles is None else profiles) if p.prefix and not p.for_tests]


# What Start here sends a student to, by profile field: a site published without one leaves a dead end.
FOR_STUDENTS = {
    "ondemand_url": "the dashboard's address, where students sign in (Start here: Sign in)",
    "account_url": "where students ask for an account (Start here: Get an account)",
    "support": "whom students write to when stuck (Start here: Get an account, Sign in)",
    "backup.client_id": "the university's Box app, which the dashboard's Box backup needs to connect (Start here: "
    "Keep your work safe)",
}


def missing_for_students(profile: Profile) -> list[str]:
    """The fields of FOR_STUDENTS that `profile` leaves empty."""
    values = {
        "ondemand_url": profile.ondemand_url,
        "account_url": profile.account_url,
        "support": profile.support,
        "backup.client_id": profile.backup.client_id if profile.backup.type == "box" else "not Box",
    }
    return [name for name in FOR_STUDENTS if not values[name]]


def load_profile(name: str) -> Profile:
    """A profile by name (`pegasus`) or path; every problem names the file and field."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else CLUSTERS / f"{name}.yaml"
    if not path.is_file():
        raise AtelierError("cluster-unknown", cluster=name, known=", ".join(profile_names()))
    fields = Fields("cluster-field", path, read_yaml(path))

    def need(key: str, kind: type, where: Fields = fields) -> Any:
        return where.get(key, of_type(kind))

    def maybe(key: str) -> str | None:
        value = fields.value(key)
        return None if value is None else str(value)

    gpus: dict[str, Gpu] = {}
    for gpu_name, gpu in need("gpus", dict).items():
        section = fields.section(gpu, f"gpus.{gpu_name}")
        gres = section.value("gres")
        options = section.value("comfyui_args") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            section.wrong("comfyui_args", "must be a list of options")
        stand_in = bool(section.value("stand_in"))
        if stand_in and not fields.value("for_tests"):
            section.wrong("stand_in", "is for the test machine's profile only (for_tests: true)")
        tuning(options, f"{path}, field {section.full('comfyui_args')}", cpu=gres is None or stand_in)
        gpus[str(gpu_name)] = Gpu(
            str(gpu_name),
            need("title", str, section),
            need("partition", str, section),
            None if gres is None else str(gres),
            int(section.value("memory_gb") or 0),
            tuple(options),
            stand_in=stand_in,
            **_share(section, gres),
        )
    if not gpus:
        fields.wrong("gpus", "lists no choice")
    _check_shares(fields, gpus)
    default_gpu = need("default_gpu", str)
    if default_gpu not in gpus:
        fields.wrong("default_gpu", f"is {default_gpu!r}, not one of the gpus ({', '.join(gpus)})")
    modules = fields.value("modules") or []
    if not isinstance(modules, list):
        fields.wrong("modules", "must be a list")
    prefix, models = maybe("prefix"), maybe("models")
    return Profile(
        name=path.stem,
        title=need("title", str),
        ood_cluster=need("ood_cluster", str),
        login_host=maybe("login_host"),
        ondemand_url=maybe("ondemand_url"),
        account=maybe("account"),
        max_hours=need("max_hours", int),
        default_hours=need("default_hours", int),
        cpus_per_gpu=need("cpus_per_gpu", int),
        memory_per_gpu_gb=need("memory_per_gpu_gb", int),
        gpus=gpus,
        default_gpu=default_gpu,
        modules=[str(m) for m in modules],
        prefix=Path(prefix) if prefix else None,
        models=Path(models) if models else None,
        scratch=str(fields.value("scratch") or "/tmp"),
        outputs=str(fields.value("outputs") or OUTPUTS),
        internet_on_compute=bool(fields.value("internet_on_compute")),
        file=path,
        backup=settings_from(fields.value("backup"), path),
        account_url=maybe("account_url"),
        support=maybe("support"),
        user_folder=str(fields.value("user_folder") or USER_FOLDER),
        comfyui_source=maybe("comfyui_source"),
        package_index=maybe("package_index"),
        torch_index=maybe("torch_index"),
        compute_nodes=_names(fields, "compute_nodes"),
        for_tests=bool(fields.value("for_tests")),
        custom_node_sources=_mirrors(fields, "custom_node_sources"),
        gpu_hour_cost=fields.get("gpu_hour_cost", _cost, required=False),
    )


def _cost(value: Any) -> str | None:
    """A Fields check: a price is a number not below zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return "must be a number of at least 0 (what one GPU-hour costs)"
    return None


def _share(section: Fields, gres: Any) -> dict[str, Any]:
    """A share's fields: its kind, its card's choice and how many of it one card holds."""
    kind = section.value("share")
    if kind is None:
        for key in ("of", "per_gpu"):
            if section.value(key) is not None:
                section.wrong(key, "belongs to a share: add share: shard or share: mig")
        return {}
    if kind not in SHARES:
        section.wrong("share", f"is {kind!r}; a share is one of {', '.join(SHARES)}")
    if gres is None:
        section.wrong("gres", "is needed for a share: what Slurm is asked for, e.g. shard:1")
    per_gpu = section.get("per_gpu", of_type(int))
    if per_gpu < 2:
        section.wrong("per_gpu", f"is {per_gpu}; a share is one of at least 2 on a card")
    if not section.value("memory_gb"):
        section.wrong("memory_gb", "is needed for a share: the form offers it only for lessons that fit")
    return {"share": str(kind), "of": str(section.get("of", of_type(str))), "per_gpu": per_gpu}


def _check_shares(fields: Fields, gpus: dict[str, Gpu]) -> None:
    """Each share divides a whole card of this profile, and its shares fit in that card's memory."""
    for gpu in gpus.values():
        if not gpu.share:
            continue
        where = fields.section({}, f"gpus.{gpu.name}")
        card = gpus.get(gpu.of or "")
        if card is None or card.share:
            whole = ", ".join(g.name for g in gpus.values() if not g.share) or "none"
            where.wrong("of", f"is {gpu.of!r}, not a whole-GPU choice of this profile ({whole})")
        elif card.memory_gb and gpu.memory_gb * gpu.per_gpu > card.memory_gb:
            where.wrong(
                "memory_gb",
                f"is {gpu.memory_gb} GB; {gpu.per_gpu} shares of it are more than {card.title}'s {card.memory_gb} GB",
            )
        elif gpu.share == "shard" and card.partition == gpu.partition and (card.gres or "").startswith("gpu"):
            # Measured with Slurm 22.05: a gpu:1 job is put on a card whose shards are taken.
            fields.section({}, f"gpus.{card.name}").wrong(
                "gres",
                f"is {card.gres} on partition {card.partition}, where {gpu.name} shares cards: Slurm may put a "
                f"whole-GPU session on a card whose shares are taken; ask for all of a card's shares "
                f"(shard:{gpu.per_gpu}), or give the shares a partition of their own",
            )


def too_small(gpu: Gpu, memory_gb: float) -> bool:
    """Whether a share leaves a lesson too little GPU memory (whole cards are judged on Teach, not refused)."""
    return bool(gpu.share) and memory_gb > gpu.memory_gb


def refuse_too_small(profile: Profile, gpu: Gpu, lesson: str, memory_gb: float) -> None:
    """A session on a share that cannot hold the lesson is refused before it is submitted, naming what fits."""
    if too_small(gpu, memory_gb):
        fits = ", ".join(g.name for g in profile.gpus.values() if not too_small(g, memory_gb))
        raise AtelierError(
            "share-too-small", lesson=lesson, need=f"{memory_gb:g}", choice=gpu.title, has=gpu.memory_gb, fits=fits
        )


def _mirrors(fields: Fields, key: str) -> dict[str, str]:
    value = fields.value(key) or {}
    if not isinstance(value, dict) or not all(isinstance(url, str) and url for url in value.values()):
        fields.wrong(key, "must map each custom node's folder name to its git mirror")
    return {str(name): str(url) for name, url in value.items()}


def _names(fields: Fields, key: str) -> tuple[str, ...]:
    value = fields.value(key) or []
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        fields.wrong(key, "must be a list of names")
    return tuple(value)


def sbatch_options(profile: Profile, gpu: Gpu) -> list[str]:
    """What a session asks Slurm for, without the time limit (OOD sets that itself)."""
    options = [
        f"--partition={gpu.partition}",
        f"--cpus-per-task={profile.cpus_per_gpu}",
        f"--mem={profile.memory_per_gpu_gb}G",
    ]
    if gpu.gres:
        options.insert(1, f"--gres={gpu.gres}")
    if profile.account:
        options.append(f"--account={profile.account}")
    return options


def atelier_command(profile: Profile) -> list[str]:
    """The atelier a job runs: the install prefix's, or (no prefix) this very one."""
    if profile.prefix:
        return [str(Layout.of(profile.prefix).atelier)]
    return [sys.executable, "-m", "atelier"]


def comfyui_args(profile: Profile, gpu: Gpu, comfyui: tuple[Path, Path] | None = None) -> list[str]:
    """Which ComfyUI a job starts and how: the same for a session (`serve`) and a sweep's tasks.

    `comfyui` (checkout, Python) is passed on for a profile without an install prefix.
    """
    args = ["--comfyui", str(comfyui[0]), "--python", str(comfyui[1])] if comfyui and not profile.prefix else []
    if profile.models:
        args += ["--models", str(profile.models)]
    if gpu.cpu:
        args.append("--cpu")
    if gpu.fence_gb:
        args += ["--share-gb", str(gpu.fence_gb)]
    return args + [f"--comfyui-option={option}" for option in gpu.comfyui_args]


def serve_args(
    profile: Profile, gpu: Gpu, comfyui: tuple[Path, Path] | None = None, listen: str | None = None
) -> list[str]:
    """`atelier serve`'s arguments that the profile decides, the same for launch and the OOD app.

    `comfyui` (checkout, Python) is passed on for a profile without an install prefix:
    Open OnDemand submits with `--export NONE`, so no COMFYUI_DIR reaches its jobs.
    `listen` defaults to the node's every address, or loopback on a one-machine profile.
    """
    listen = listen or ("127.0.0.1" if profile.login_host == "127.0.0.1" else "0.0.0.0")
    args = ["serve", "--listen", listen, *comfyui_args(profile, gpu, comfyui)]
    args += ["--user-folder", profile.user_folder]  # serve fills in its $HOME: the job's shell does not see it
    if profile.backup.every_minutes:
        args += ["--backup-to", str(profile.backup.target), "--backup-every", str(profile.backup.every_minutes)]
    return args
