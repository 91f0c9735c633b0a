"""Write random-weight stand-ins for the model files the Atelier lessons load.

Why: the lesson checks must run every workflow through a real ComfyUI, but the real weights are
gigabytes behind licence pages and cannot be downloaded in CI or on an offline machine. This
writes files with the real architectures, the real key layouts and the exact file names the
workflows ask for, filled with seeded random numbers. ComfyUI detects and runs them like the
real files; only the pictures are meaningless (noise, but never a flat image).

The key names and shapes come from ComfyUI's own classes (built on the "meta" device, so nothing
is allocated), which is why this runs with ComfyUI's Python from a ComfyUI checkout:

    cd /path/to/ComfyUI && python /path/to/testmodels_torch.py --out DIR --variant tiny --seed 0 \
        --models v1-5-pruned-emaonly.safetensors lcm-lora-sdv1-5.safetensors

`tiny` shrinks the parts whose size does not change what ComfyUI detects (UNet depth, ControlNet,
upscaler), for CPU tests; `full` keeps the published sizes, for GPU timings. The same seed gives
byte-identical files. Standalone on purpose: it imports nothing from `atelier`. Progress goes to
stderr; stdout gets one JSON line: {"written": [...], "skipped": [...]}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

VARIANTS = ("tiny", "full")
DTYPES = {"fp16": torch.float16, "fp32": torch.float32}

SD15_UNET_FULL: dict[str, Any] = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "channel_mult": [1, 2, 4, 4], "transformer_depth_middle": 1, "use_linear_in_transformer": False,
    "context_dim": 768, "num_heads": 8, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
# Same width and context as SD 1.5 (what ComfyUI's detection looks at), two levels, one block each.
SD15_UNET_TINY: dict[str, Any] = {
    **SD15_UNET_FULL, "num_res_blocks": [1, 1], "transformer_depth": [1, 1], "channel_mult": [1, 2],
    "transformer_depth_output": [1, 1, 1, 1],
}
# SDXL base as ComfyUI's detection reports it. No tiny variant: detection needs exactly these depths.
SDXL_UNET: dict[str, Any] = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "num_classes": "sequential", "adm_in_channels": 2816, "in_channels": 4,
    "model_channels": 320, "num_res_blocks": [2, 2, 2], "transformer_depth": [0, 0, 2, 2, 10, 10],
    "channel_mult": [1, 2, 4], "transformer_depth_middle": 10, "use_linear_in_transformer": True,
    "context_dim": 2048, "num_head_channels": 64, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
SD_VAE: dict[str, Any] = {
    "double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128,
    "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0,
}
# The layers the published LCM LoRA for SD 1.5 adapts (diffusers names, matched on the ending).
LORA_TARGETS = (
    ".to_q.weight", ".to_k.weight", ".to_v.weight", ".to_out.0.weight", ".ff.net.0.proj.weight",
    ".ff.net.2.weight", ".proj_in.weight", ".proj_out.weight", ".conv1.weight", ".conv2.weight",
    ".conv_shortcut.weight", ".time_emb_proj.weight", "samplers.0.conv.weight",
)
LORA_RANK = {"tiny": 8, "full": 64}
ESRGAN_SIZE = {"tiny": (32, 2), "full": (64, 23)}  # (num_feat, num_block); num_grow_ch is always 32


class NoVariant(Exception):
    """This model has no file of the asked-for variant; the reason goes into the summary."""


@dataclass(frozen=True)
class Spec:
    """How to fill one tensor: 'normal' (scale = std), 'fill' (scale = the value), 'ones' or 'zeros'."""

    shape: tuple[int, ...]
    init: str = "normal"
    scale: float = 0.0


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


def unet_config(variant: str) -> dict[str, Any]:
    """The SD 1.5 UNet config for a variant, as ComfyUI's model detection would report it."""
    return dict(SD15_UNET_TINY if variant == "tiny" else SD15_UNET_FULL)


def unet_specs(variant: str, prefix: str) -> Specs:
    """SD 1.5 UNet tensors, in the original LDM key layout."""
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with meta_device():
        unet = UNetModel(**unet_config(variant), operations=comfy.ops.disable_weight_init, device="meta")
    return module_specs(unet, prefix)


def sd15_checkpoint(variant: str, comfyui: Path) -> Specs:
    """Single-file SD 1.5 checkpoint: UNet + CLIP-L text encoder + SD VAE, as in v1-5-pruned-emaonly."""
    import comfy.ops
    from comfy.clip_model import CLIPTextModel
    from comfy.ldm.models.autoencoder import AutoencoderKL

    clip_config = json.loads((comfyui / "comfy" / "sd1_clip_config.json").read_text())
    with meta_device():
        vae = AutoencoderKL(ddconfig=dict(SD_VAE), embed_dim=4)
        clip = CLIPTextModel(clip_config, torch.float32, "meta", comfy.ops.disable_weight_init)
    specs = unet_specs(variant, "model.diffusion_model.")
    specs.update(module_specs(vae, "first_stage_model."))
    clip_specs = module_specs(clip, "cond_stage_model.transformer.")
    clip_specs.pop("cond_stage_model.transformer.text_projection.weight")  # not in the SD 1.5 file
    specs.update(clip_specs)
    return specs


def sdxl_checkpoint(variant: str, comfyui: Path) -> Specs:
    """Single-file SDXL base 1.0: UNet, CLIP-L, OpenCLIP bigG and VAE, in the published key layout.

    The text encoders are built as ComfyUI holds them, then renamed (and q/k/v joined) by
    ComfyUI's own save-side conversion, so the file has the layout ComfyUI expects to load.
    """
    if variant != "full":
        raise NoVariant("SDXL is recognised by its exact depth, so only a full-size version exists")
    import comfy.ops
    import comfy.supported_models
    from comfy.clip_model import CLIPTextModel
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with meta_device():
        unet = UNetModel(**SDXL_UNET, operations=comfy.ops.disable_weight_init, device="meta")
        vae = AutoencoderKL(ddconfig=dict(SD_VAE), embed_dim=4)
        encoders = {
            name: CLIPTextModel(json.loads((comfyui / "comfy" / config).read_text()), torch.float32, "meta",
                                comfy.ops.disable_weight_init)
            for name, config in (("clip_l", "sd1_clip_config.json"), ("clip_g", "clip_config_bigg.json"))
        }
    specs = module_specs(unet, "model.diffusion_model.")
    specs.update(module_specs(vae, "first_stage_model."))
    held = {key: spec for name, model in encoders.items() for key, spec in module_specs(model, f"{name}.transformer.").items()}
    tensors = {key: torch.empty(spec.shape, device="meta") for key, spec in held.items()}
    by_tensor = {id(tensors[key]): spec for key, spec in held.items()}
    saved = comfy.supported_models.SDXL(dict(SDXL_UNET)).process_clip_state_dict_for_saving(tensors)
    for key, tensor in saved.items():
        if key.endswith("position_ids"):
            continue  # an index buffer ComfyUI does not read
        shape = tuple(tensor.shape)
        # Joined q/k/v and the transposed projection are new tensors: same rule as module_specs.
        fallback = Spec(shape, "normal", 1.0 / math.sqrt(fan_in(shape))) if len(shape) >= 2 else Spec(shape, "zeros")
        specs[key] = by_tensor.get(id(tensor), fallback)
    return specs


def lcm_lora(variant: str, comfyui: Path) -> Specs:
    """Kohya-style LoRA (lora_unet_<diffusers name>.lora_down/lora_up/alpha) for the SD 1.5 UNet."""
    import comfy.utils

    config = unet_config(variant)
    unet = unet_specs(variant, "")
    rank = LORA_RANK[variant]
    specs: Specs = {}
    for diffusers_key, ldm_key in sorted(comfy.utils.unet_to_diffusers(config).items()):
        if not diffusers_key.endswith(LORA_TARGETS) or ldm_key not in unet:
            continue
        shape = unet[ldm_key].shape
        name = "lora_unet_" + diffusers_key[: -len(".weight")].replace(".", "_")
        down = (rank, *shape[1:])
        up = (shape[0], rank, *([1] * (len(shape) - 2)))
        specs[f"{name}.lora_down.weight"] = Spec(down, "normal", 1.0 / math.sqrt(fan_in(down)))
        specs[f"{name}.lora_up.weight"] = Spec(up, "normal", 0.1 / math.sqrt(rank))
        specs[f"{name}.alpha"] = Spec((), "fill", float(rank))
    return specs


def sd15_controlnet(variant: str, comfyui: Path) -> Specs:
    """ControlNet for the SD 1.5 UNet of the same variant, in the original control_model.* layout."""
    import comfy.ops
    from comfy.cldm.cldm import ControlNet

    config = unet_config(variant)
    config.pop("out_channels")
    config.pop("transformer_depth_output")
    with meta_device():
        net = ControlNet(hint_channels=3, **config, operations=comfy.ops.disable_weight_init, device="meta")
    return module_specs(net, "control_model.")


def esrgan_x4(variant: str, comfyui: Path) -> Specs:
    """Real-ESRGAN x4plus (BasicSR RRDBNet key layout), which spandrel detects as ESRGAN 4x."""
    feat, blocks = ESRGAN_SIZE[variant]
    grow = 32
    specs: Specs = {}

    def conv(name: str, out_ch: int, in_ch: int) -> None:
        specs[f"{name}.weight"] = Spec((out_ch, in_ch, 3, 3), "normal", 1.0 / math.sqrt(in_ch * 9))
        specs[f"{name}.bias"] = Spec((out_ch,), "zeros")

    conv("conv_first", feat, 3)
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 5):
                conv(f"body.{b}.rdb{r}.conv{c}", grow, feat + (c - 1) * grow)
            conv(f"body.{b}.rdb{r}.conv5", feat, feat + 4 * grow)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, feat, feat)
    conv("conv_last", 3, feat)
    specs["conv_last.bias"] = Spec((3,), "fill", 0.5)  # centre the output in [0, 1] so it is not mostly clipped black
    return specs


Builder = Callable[[str, Path], Specs]
MODELS: dict[str, tuple[str, Builder]] = {
    "v1-5-pruned-emaonly.safetensors": ("checkpoints", sd15_checkpoint),
    "sd_xl_base_1.0.safetensors": ("checkpoints", sdxl_checkpoint),
    "lcm-lora-sdv1-5.safetensors": ("loras", lcm_lora),
    "control_v11p_sd15_canny_fp16.safetensors": ("controlnet", sd15_controlnet),
    "RealESRGAN_x4plus.safetensors": ("upscale_models", esrgan_x4),
}


def materialise(specs: Specs, seed: int, name: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Fill the tensors in sorted key order from one seed per file, so the bytes are reproducible."""
    torch.manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
    tensors: dict[str, torch.Tensor] = {}
    for key in sorted(specs):
        spec = specs[key]
        if spec.init == "normal":
            tensor = torch.empty(spec.shape, dtype=torch.float32).normal_(0.0, spec.scale)
        elif spec.init == "ones":
            tensor = torch.ones(spec.shape, dtype=torch.float32)
        elif spec.init == "fill":
            tensor = torch.full(spec.shape, spec.scale, dtype=torch.float32)
        else:
            tensor = torch.zeros(spec.shape, dtype=torch.float32)
        tensors[key] = tensor.to(dtype).contiguous()
    return tensors


def write_atomic(tensors: dict[str, torch.Tensor], target: Path, metadata: dict[str, str]) -> None:
    """Save next to the target under a temporary name, then rename over it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        save_file(tensors, str(temp), metadata=metadata)
        umask = os.umask(0)
        os.umask(umask)
        temp.chmod(0o666 & ~umask)  # safetensors creates 0600 files; ComfyUI may run as someone else
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_model(name: str, out: Path, variant: str, seed: int, dtype: str, comfyui: Path) -> dict[str, Any]:
    """Build, fill and write one model file; returns its summary entry."""
    directory, builder = MODELS[name]
    started = time.perf_counter()
    specs = builder(variant, comfyui)
    tensors = materialise(specs, seed, name, DTYPES[dtype])
    target = out / directory / name
    # One key only: safetensors writes the metadata map in hash order, so several keys break determinism.
    metadata = {"atelier_testmodel": f"random weights, not a real model (variant {variant}, seed {seed})"}
    write_atomic(tensors, target, metadata)
    seconds = round(time.perf_counter() - started, 2)
    parameters = sum(t.numel() for t in tensors.values())
    log(f"wrote {directory}/{name}: {len(tensors)} tensors, {parameters:,} parameters, {seconds}s")
    return {"name": name, "directory": directory, "bytes": target.stat().st_size, "seconds": seconds,
            "parameters": parameters}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="base folder; files go to OUT/<model folder>/<name>")
    parser.add_argument("--variant", choices=VARIANTS, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    parser.add_argument("--models", nargs="*", default=None, help="file names to write (default: all known)")
    parser.add_argument("--comfyui", type=Path, default=Path.cwd(), help="ComfyUI checkout (default: cwd)")
    args = parser.parse_args(argv)
    if not (args.comfyui / "comfy" / "sd1_clip_config.json").is_file():
        parser.error(f"{args.comfyui} is not a ComfyUI checkout: run from one or pass --comfyui")
    return args


def main(argv: list[str] | None = None) -> int:
    """Write the requested models and print the JSON summary."""
    args = parse_args(argv)
    names = list(MODELS) if args.models is None else list(dict.fromkeys(args.models))
    written: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for name in names:
        if name not in MODELS:
            skipped.append({"name": name, "reason": "no random-weight version of it exists yet"})
    known = [name for name in names if name in MODELS]
    with contextlib.redirect_stdout(sys.stderr):  # whatever ComfyUI prints on import stays off stdout
        if known:
            comfy_import(args.comfyui)
        for name in known:
            try:
                written.append(write_model(name, args.out, args.variant, args.seed, args.dtype, args.comfyui))
            except NoVariant as reason:
                skipped.append({"name": name, "reason": str(reason)})
    print(json.dumps({"written": written, "skipped": skipped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
