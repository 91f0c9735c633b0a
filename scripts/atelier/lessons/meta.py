"""module.yaml, typed: what a lesson teaches, read and checked in one pass.

Pages, the lesson list, the teaching plan, the lesson check and lint all read the same
fields; here they are read once, into records whose attributes the readers use. A
broken module.yaml still loads: each wrong field gets a neutral value (None, 0, an
empty list) and a finding naming the file and the field, and lint reports them all,
so an instructor sees every fix in one run rather than one per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from atelier.fields import MISSING, Check, Fields, one_of
from atelier.messages import Finding

MODALITIES = ("image", "audio", "video", "3d")
LEVELS = ("first-year", "intermediate", "advanced")
# What each kind of output states about itself: the page shows it, the lesson check compares it.
OUTPUT_FIELDS = {
    "image": ("width", "height"),
    "video": ("frames", "width", "height"),
    "audio": ("seconds",),
    "mesh": (),
}
# module.yaml's fields in the order they are checked, which is the order lint reports them in.
FIELDS = (
    "title",
    "modality",
    "level",
    "order",
    "minutes",
    "questions",
    "objectives",
    "key_points",
    "prerequisites",
    "knobs",
    "exercises",
    "outputs",
    "gpu_memory_gb",
    "models",
    "custom_nodes",
)


@dataclass(frozen=True)
class Minutes:
    """Minutes of teaching (the instructor shows) and of exercises (students work)."""

    teaching: int = 0
    exercises: int = 0

    @property
    def total(self) -> int:
        return self.teaching + self.exercises


@dataclass(frozen=True)
class Knob:
    """A setting worth changing: the node's title on the canvas and the input's name on it."""

    node: str
    input: str
    what: str
    tries: tuple[Any, ...]  # module.yaml's `try`, values as written


@dataclass(frozen=True)
class Exercise:
    title: str | None  # None: the page numbers it instead
    task: str
    hint: str
    solution: str


@dataclass(frozen=True)
class Output:
    """What one run makes of one kind; the numbers are as written (None where not stated)."""

    kind: str
    count: int = 1
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class ModelLicence:
    """module.yaml's word on a model file: its licence and size (its URL is in the workflow)."""

    name: str
    licence: str
    licence_url: str
    size: int | None  # bytes (module.yaml's `bytes`); None where the publisher states none


@dataclass(frozen=True)
class CustomNodeLicence:
    """module.yaml's word on a custom node the workflow needs: where it is from and its licence, in the
    lesson's words (its commit is the semester pin's)."""

    name: str  # its folder under custom_nodes/
    repository: str
    licence: str
    licence_url: str


@dataclass(frozen=True)
class Meta:
    """module.yaml's fields; `problems` says what is wrong with them, for lint to report."""

    title: str | None = None
    modality: str | None = None
    level: str | None = None
    order: int | None = None  # place in the suggested semester (Teach); None: after those that have one
    minutes: Minutes = Minutes()
    questions: tuple[str, ...] = ()
    objectives: tuple[str, ...] = ()
    key_points: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()  # module folder names
    knobs: tuple[Knob, ...] = ()
    exercises: tuple[Exercise, ...] = ()
    outputs: tuple[Output, ...] = ()
    gpu_memory_gb: float = 0  # 0: not stated
    models: tuple[ModelLicence, ...] = ()
    custom_nodes: tuple[CustomNodeLicence, ...] = ()  # none: the workflow uses ComfyUI's own nodes only
    problems: tuple[Finding, ...] = field(default=(), compare=False, repr=False)


def _text(value: Any) -> str:
    """A text field as the page shows it; empty where nothing is written."""
    return str(value) if value else ""


def _values(value: Any) -> tuple[Any, ...]:
    """A list of values as written; one value alone is a list of one."""
    return tuple(value) if isinstance(value, list) else () if value is None else (value,)


def _is_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be text"


def _is_sentences(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return None
    return "must be a list of one or more sentences"


def _above_zero(integer: bool = True) -> Check:
    kinds = (int,) if integer else (int, float)

    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
            return f"is {value!r}, expected a {'whole ' if integer else ''}number above 0"
        return None

    return check


def _present(value: Any) -> str | None:
    return MISSING if value in ("", []) else None


def _entries(fields: Fields, name: str, required: tuple[str, ...]) -> tuple[list[dict[str, Any]], bool]:
    """(every mapping in the list at `name`, whether the list is sound); each entry's required keys are checked."""
    value = fields.value(name)
    entries = [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
    if value is None:
        fields.wrong(name, MISSING)
        return entries, False
    if not isinstance(value, list) or not value or len(entries) < len(value):
        fields.wrong(name, "must be a list of one or more entries")
        return entries, False
    for index, entry in enumerate(entries):
        item = fields.section(entry, f"{name}[{index}]")
        for key in required:
            item.get(key, _present)
    return entries, True


def _minutes(fields: Fields) -> Minutes:
    if not isinstance(fields.value("minutes"), dict):
        fields.wrong("minutes", MISSING if fields.value("minutes") is None else "must have teaching and exercises")
        return Minutes()
    return Minutes(
        fields.get("minutes.teaching", _above_zero(), default=0),
        fields.get("minutes.exercises", _above_zero(), default=0),
    )


def _sentences(fields: Fields, name: str) -> tuple[str, ...]:
    fields.get(name, _is_sentences)
    value = fields.value(name)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _prerequisites(fields: Fields) -> tuple[str, ...]:
    prerequisites = fields.value("prerequisites", default=[])
    if not isinstance(prerequisites, list):
        fields.wrong("prerequisites", "must be a list of module folder names")
        return ()
    return tuple(str(p) for p in prerequisites)


def _knobs(fields: Fields) -> tuple[Knob, ...]:
    knobs, _ = _entries(fields, "knobs", ("node", "input", "what", "try"))
    return tuple(
        Knob(_text(k.get("node")), _text(k.get("input")), _text(k.get("what")), _values(k.get("try"))) for k in knobs
    )


def _exercises(fields: Fields) -> tuple[Exercise, ...]:
    exercises, _ = _entries(fields, "exercises", ("task", "hint", "solution"))
    return tuple(
        Exercise(_text(e.get("title")) or None, _text(e.get("task")), _text(e.get("hint")), _text(e.get("solution")))
        for e in exercises
    )


def _outputs(fields: Fields) -> tuple[Output, ...]:
    entries, sound = _entries(fields, "outputs", ("kind", "count"))
    outputs = []
    for index, entry in enumerate(entries):
        item = fields.section(entry, f"outputs[{index}]")
        item = item if sound else item.quietly()  # an unsound list is reported once, as a whole
        kind = entry.get("kind")
        known = isinstance(kind, str) and kind in OUTPUT_FIELDS
        stated = {}
        if sound and not known:
            item.wrong("kind", f"is {kind!r}, expected one of {', '.join(OUTPUT_FIELDS)}")
        for key in OUTPUT_FIELDS[kind] if known else ():
            stated[key] = item.get(key, _above_zero(integer=key != "seconds"))
        count = entry.get("count", 1)
        outputs.append(Output(_text(kind), count if isinstance(count, int) else 1, **stated))
    return tuple(outputs)


def _models(fields: Fields) -> tuple[ModelLicence, ...]:
    models, _ = _entries(fields, "models", ("name", "licence", "licence_url"))
    return tuple(
        ModelLicence(
            _text(m.get("name")),
            _text(m.get("licence")),
            _text(m.get("licence_url")),
            m["bytes"] if isinstance(m.get("bytes"), int) else None,
        )
        for m in models
    )


def _custom_nodes(fields: Fields) -> tuple[CustomNodeLicence, ...]:
    if fields.value("custom_nodes") is None:  # optional: only a workflow with custom nodes has it
        return ()
    custom_nodes, _ = _entries(fields, "custom_nodes", ("name", "repository", "licence"))
    return tuple(
        CustomNodeLicence(
            _text(c.get("name")), _text(c.get("repository")), _text(c.get("licence")), _text(c.get("licence_url"))
        )
        for c in custom_nodes
    )


def read_meta(data: Any, file: Path) -> Meta:
    """module.yaml's fields, typed; the problems found on the way are in `problems`, in FIELDS order."""
    found: list[Finding] = []
    fields = Fields("lint-module-field", file, data if data is not None else {}, found)
    meta = Meta(  # each field read and checked in turn, in FIELDS order
        title=fields.get("title", _is_text),
        modality=fields.get("modality", one_of(MODALITIES)),
        level=fields.get("level", one_of(LEVELS)),
        order=fields.get("order", _above_zero(), required=False),  # optional: a new module goes after the rest
        minutes=_minutes(fields),
        questions=_sentences(fields, "questions"),
        objectives=_sentences(fields, "objectives"),
        key_points=_sentences(fields, "key_points"),
        prerequisites=_prerequisites(fields),
        knobs=_knobs(fields),
        exercises=_exercises(fields),
        outputs=_outputs(fields),
        gpu_memory_gb=fields.get("gpu_memory_gb", _above_zero(integer=False), default=0),
        models=_models(fields),
        custom_nodes=_custom_nodes(fields),
    )
    return replace(meta, problems=tuple(found))


def field_rank(name: str) -> int:
    """The place of a dotted field (`outputs[0].kind`) in FIELDS, the order problems are reported in."""
    top = name.split(".")[0].split("[")[0]
    return FIELDS.index(top) if top in FIELDS else -1
