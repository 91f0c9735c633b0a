"""The building blocks of the random-weight test models: tensor specs, ComfyUI's classes on the meta
device, and the tokenizer UMT5 files carry inside.

Part of the standalone worker that testmodels_torch.py is (run with ComfyUI's Python; it imports
nothing from `atelier`): testmodels_torch.py has the image models, the registry and the writer,
testmodels_torch_media.py the video, sound and 3D ones.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

VARIANTS = ("tiny", "full")
DTYPES = {
    "fp16": torch.float16,
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "u8": torch.uint8,
}
FILE_DTYPES = ("bf16", "fp16", "fp32")  # what --dtype may ask for; builders may fix others per tensor
SAFETENSORS_DTYPES = {
    torch.float16: "F16",
    torch.float32: "F32",
    torch.bfloat16: "BF16",
    torch.float8_e4m3fn: "F8_E4M3",
    torch.uint8: "U8",
}
CHUNK = 1 << 24  # values generated and written at a time

# A few lines to train the stand-in SentencePiece tokenizer on (UMT5 files carry theirs inside).
SPIECE_WORDS = (
    "a the of and in with on at by to from is are slow fast soft warm calm dreamy quiet bright light dark rain "
    "rainy city river pond boat paper leaf gutter dusk dawn morning night mist neon signs reflected puddles "
    "raindrops rippling water camera tracking shot close up wide zoom pan tilt looking straight down piano "
    "felt cello harp drums bass guitar voice vocals female male ambient jazz jazzy lofi hip hop dusty field "
    "recording forest birds wind leaves stream tape hiss bpm verse chorus intro outro melody instrumental "
    "gallery soundscape blurry low quality watermark text subtitles still image frozen motion flicker "
    "distorted extra limbs jpeg artifacts overexposed cinematic studio painting oil watercolor charcoal vase "
    "blue red green yellow white black colour color"
).split()


class NoVariant(Exception):
    """This model has no file of the asked-for variant; the reason goes into the summary."""


@dataclass(frozen=True)
class Spec:
    """How to fill one tensor: 'normal' (scale = std), 'fill' (scale = the value), 'ones', 'zeros', or
    'data' (exactly the values in `data`). `dtype` (a DTYPES name) fixes the stored type; None means --dtype."""

    shape: tuple[int, ...]
    init: str = "normal"
    scale: float = 0.0
    dtype: str | None = None
    data: torch.Tensor | None = field(default=None, compare=False, repr=False)


Specs = dict[str, Spec]


def log(message: str) -> None:
    """Progress line on stderr (stdout is kept for the JSON summary)."""
    print(f"testmodels: {message}", file=sys.stderr, flush=True)


def comfy_import(comfyui: Path) -> None:
    """Put the ComfyUI checkout first on sys.path and make ComfyUI pick the CPU (we only need shapes)."""
    here = Path(__file__).resolve().parent
    # Our own folder holds server.py, lock.py...: it must not shadow ComfyUI's top-level modules.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(comfyui.resolve()))
    import comfy.cli_args

    comfy.cli_args.args.cpu = True


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Build modules without allocating or initialising their weights."""
    with torch.device("meta"):
        yield


def fan_in(shape: tuple[int, ...]) -> int:
    """Inputs per output unit of a Linear/Conv weight."""
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def module_specs(module: torch.nn.Module, prefix: str = "") -> Specs:
    """Specs for every tensor in a (meta) module's state dict, chosen from the layer type.

    Norm scales 1, biases 0, embeddings N(0, 0.02), other weights N(0, 1/sqrt(fan_in)) so that
    activations keep their scale through the network and the outputs are not flat.
    """
    specs: Specs = {}
    for mod_name, mod in module.named_modules():
        kind = type(mod).__name__
        tensors = list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False))
        for name, tensor in tensors:
            key = f"{prefix}{mod_name + '.' if mod_name else ''}{name}"
            shape = tuple(tensor.shape)
            if "Norm" in kind:
                specs[key] = Spec(shape, "ones" if name == "weight" else "zeros")
            elif "Embedding" in kind:
                specs[key] = Spec(shape, "normal", 0.02)
            elif len(shape) >= 2:
                specs[key] = Spec(shape, "normal", 1.0 / math.sqrt(fan_in(shape)))
            else:
                specs[key] = Spec(shape, "zeros")
    return specs


@contextlib.contextmanager
def meta_parameters() -> Iterator[dict[tuple[int, str], torch.Tensor]]:
    """For classes whose __init__ computes with tensors (ACE's vocoder calls .item()), where meta_device fails.

    Each parameter is moved to meta as it is registered, so only one layer is ever real; buffers are
    moved too, and their values (mel filter banks, windows) kept, keyed by (id(module), name).
    """
    kept: dict[tuple[int, str], torch.Tensor] = {}
    register_parameter, register_buffer = torch.nn.Module.register_parameter, torch.nn.Module.register_buffer

    def parameter(self: torch.nn.Module, name: str, param: Any) -> None:
        if param is not None and param.device.type != "meta":
            param = torch.nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: torch.nn.Module, name: str, tensor: Any, persistent: bool = True) -> None:
        if tensor is not None and tensor.device.type != "meta":
            kept[(id(self), name)] = tensor.detach().clone()
            tensor = tensor.to("meta")
        register_buffer(self, name, tensor, persistent)

    torch.nn.Module.register_parameter, torch.nn.Module.register_buffer = parameter, buffer  # type: ignore[method-assign]
    try:
        yield kept
    finally:
        torch.nn.Module.register_parameter, torch.nn.Module.register_buffer = register_parameter, register_buffer  # type: ignore[method-assign]


# Scale-like parameters that module_specs would fill with zeros or N(0, 1) but that multiply a signal.
ONES = {
    ("RMS_norm", "gamma"),
    ("LayerScale", "lambda1"),
    ("ConvNeXtBlock", "gamma"),
    ("ParametrizationList", "original0"),
}  # the last: weight-norm magnitude g, so rows have norm 1


def state_specs(
    module: torch.nn.Module, prefix: str = "", buffers: dict[tuple[int, str], torch.Tensor] | None = None
) -> Specs:
    """module_specs limited to what state_dict() saves (no non-persistent buffers), with the scale-like
    parameters in ONES set to 1 and the persistent buffers kept by meta_parameters copied as they are."""
    specs = module_specs(module, prefix)
    saved = {prefix + key for key in module.state_dict()}
    specs = {key: spec for key, spec in specs.items() if key in saved}
    for mod_name, mod in module.named_modules():
        kind = type(mod).__name__
        for name, _ in list(mod.named_parameters(recurse=False)) + list(mod.named_buffers(recurse=False)):
            key = f"{prefix}{mod_name + '.' if mod_name else ''}{name}"
            if key not in specs:
                continue
            if (kind, name) in ONES:
                specs[key] = Spec(specs[key].shape, "ones")
            elif buffers is not None and (id(mod), name) in buffers:
                specs[key] = Spec(specs[key].shape, "data", data=buffers[(id(mod), name)])
    return specs


def renamed(specs: Specs, convert: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]) -> Specs:
    """Apply one of ComfyUI's save-side key conversions (which take a state dict) to specs."""
    tensors = {key: torch.empty(spec.shape, device="meta") for key, spec in specs.items()}
    by_tensor = {id(tensors[key]): spec for key, spec in specs.items()}
    return {key: by_tensor[id(tensor)] for key, tensor in convert(tensors).items()}


@functools.lru_cache(maxsize=1)
def spiece_model() -> bytes:
    """A small SentencePiece model, trained here on SPIECE_WORDS, with UMT5's special ids (pad 0, eos 1,
    unk 2) and byte fallback, so every prompt tokenises; its ids stay far below UMT5's 256384 rows."""
    import sentencepiece

    words = SPIECE_WORDS
    lines = [" ".join(words[(i * k) % len(words)] for k in range(1, 12)) for i in range(len(words))]
    lines.append("[verse] [chorus] [intro] [outro] [melody] [instrumental] , . ! ? 0 1 2 3 4 5 6 7 8 9")
    out = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        vocab_size=400,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        byte_fallback=True,
        num_threads=1,
        shuffle_input_sentence=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    return out.getvalue()


def spiece_spec() -> Spec:
    """The tokenizer as ComfyUI stores it: a uint8 tensor named spiece_model (SPieceTokenizer.serialize_model)."""
    data = torch.frombuffer(bytearray(spiece_model()), dtype=torch.uint8)
    return Spec(tuple(data.shape), "data", dtype="u8", data=data)


def with_dtype(specs: Specs, dtype: str) -> Specs:
    """Fix the stored type of every tensor that does not already fix one."""
    return {
        key: spec if spec.dtype else Spec(spec.shape, spec.init, spec.scale, dtype, spec.data)
        for key, spec in specs.items()
    }
