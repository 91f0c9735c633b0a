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

`tiny` shrinks the parts whose size ComfyUI reads from the file (UNet depth, ControlNet, upscaler,
the Wan and Hunyuan3D transformers), for CPU tests; `full` keeps the published sizes, for GPU
timings. Parts whose size ComfyUI fixes in code (SDXL, UMT5-XXL, ACE-Step, DINOv2, the video,
audio and shape VAEs) exist only at full size, so `tiny` writes them at full size too; so does
Depth Anything V2 Small, whose size kijai's custom node fixes by file name (and which is made only
where that node is installed in the checkout's custom_nodes/). Files are
written tensor by tensor, so memory stays near one tensor even for the 7 GB ones. The same seed
gives byte-identical files. Standalone on purpose: it imports nothing from `atelier`. Progress goes to
stderr; stdout gets one JSON line: {"written": [...], "skipped": [...]}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

# The worker's own parts, beside it (imported before comfy_import takes this folder off sys.path).
from testmodels_torch_media import ace_step, hunyuan3d_v2, umt5_xxl_fp8_scaled, wan21_t2v, wan21_vae
from testmodels_torch_specs import (
    CHUNK,
    DTYPES,
    FILE_DTYPES,
    SAFETENSORS_DTYPES,
    VARIANTS,
    NoVariant,
    Spec,
    Specs,
    comfy_import,
    fan_in,
    log,
    meta_device,
    meta_parameters,
    module_specs,
    state_specs,
    with_dtype,
)

SD15_UNET_FULL: dict[str, Any] = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "adm_in_channels": None,
    "in_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [2, 2, 2, 2],
    "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0],
    "channel_mult": [1, 2, 4, 4],
    "transformer_depth_middle": 1,
    "use_linear_in_transformer": False,
    "context_dim": 768,
    "num_heads": 8,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
# Same width and context as SD 1.5 (what ComfyUI's detection looks at), two levels, one block each.
SD15_UNET_TINY: dict[str, Any] = {
    **SD15_UNET_FULL,
    "num_res_blocks": [1, 1],
    "transformer_depth": [1, 1],
    "channel_mult": [1, 2],
    "transformer_depth_output": [1, 1, 1, 1],
}
# SDXL base as ComfyUI's detection reports it. No tiny variant: detection needs exactly these depths.
SDXL_UNET: dict[str, Any] = {
    "use_checkpoint": False,
    "image_size": 32,
    "out_channels": 4,
    "use_spatial_transformer": True,
    "legacy": False,
    "num_classes": "sequential",
    "adm_in_channels": 2816,
    "in_channels": 4,
    "model_channels": 320,
    "num_res_blocks": [2, 2, 2],
    "transformer_depth": [0, 0, 2, 2, 10, 10],
    "channel_mult": [1, 2, 4],
    "transformer_depth_middle": 10,
    "use_linear_in_transformer": True,
    "context_dim": 2048,
    "num_head_channels": 64,
    "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
    "use_temporal_attention": False,
    "use_temporal_resblock": False,
}
SD_VAE: dict[str, Any] = {
    "double_z": True,
    "z_channels": 4,
    "resolution": 256,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 128,
    "ch_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_resolutions": [],
    "dropout": 0.0,
}
# The layers the published LCM LoRA for SD 1.5 adapts (diffusers names, matched on the ending).
LORA_TARGETS = (
    ".to_q.weight",
    ".to_k.weight",
    ".to_v.weight",
    ".to_out.0.weight",
    ".ff.net.0.proj.weight",
    ".ff.net.2.weight",
    ".proj_in.weight",
    ".proj_out.weight",
    ".conv1.weight",
    ".conv2.weight",
    ".conv_shortcut.weight",
    ".time_emb_proj.weight",
    "samplers.0.conv.weight",
)
LORA_RANK = {"tiny": 8, "full": 64}
# kijai's ComfyUI-DepthAnythingV2: its folder under custom_nodes/, and the config its loader picks for a
# "vits" file name (nodes.py, model_configs). The loader fixes the size by name, so full size only.
DEPTH_ANYTHING_NODE = "ComfyUI-DepthAnythingV2"
DEPTH_ANYTHING_VITS: dict[str, Any] = {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]}
ESRGAN_SIZE = {"tiny": (32, 2), "full": (64, 23)}  # (num_feat, num_block); num_grow_ch is always 32


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
    """Single-file SDXL base 1.0: UNet, CLIP-L, OpenCLIP bigG and VAE, in the published key layout; full size only.

    The text encoders are built as ComfyUI holds them, then renamed (and q/k/v joined) by
    ComfyUI's own save-side conversion, so the file has the layout ComfyUI expects to load.
    """
    # No smaller SDXL exists (detection needs exactly these depths), so `tiny` writes the full size too.
    import comfy.ops
    import comfy.supported_models
    from comfy.clip_model import CLIPTextModel
    from comfy.ldm.models.autoencoder import AutoencoderKL
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with meta_device():
        unet = UNetModel(**SDXL_UNET, operations=comfy.ops.disable_weight_init, device="meta")
        vae = AutoencoderKL(ddconfig=dict(SD_VAE), embed_dim=4)
        encoders = {
            name: CLIPTextModel(
                json.loads((comfyui / "comfy" / config).read_text()),
                torch.float32,
                "meta",
                comfy.ops.disable_weight_init,
            )
            for name, config in (("clip_l", "sd1_clip_config.json"), ("clip_g", "clip_config_bigg.json"))
        }
    specs = module_specs(unet, "model.diffusion_model.")
    specs.update(module_specs(vae, "first_stage_model."))
    held = {
        key: spec
        for name, model in encoders.items()
        for key, spec in module_specs(model, f"{name}.transformer.").items()
    }
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


def depth_anything_v2_vits(variant: str, comfyui: Path) -> Specs:
    """Depth Anything V2 Small as kijai's node loads it: the node's own DepthAnythingV2 class, its state_dict keys.

    The node is not part of ComfyUI: without it in this checkout's custom_nodes/ there is no class to
    build, and ComfyUI could not load the file either, so the model is skipped with that reason.
    """
    folder = comfyui / "custom_nodes" / DEPTH_ANYTHING_NODE
    if not (folder / "depth_anything_v2" / "dpt.py").is_file():
        raise NoVariant(f"the custom node {DEPTH_ANYTHING_NODE} is not installed in {comfyui / 'custom_nodes'}")
    sys.path.insert(0, str(folder.resolve()))  # its depth_anything_v2 package (it imports comfy.ops, already found)
    try:
        from depth_anything_v2.dpt import DepthAnythingV2
    finally:
        sys.path.remove(str(folder.resolve()))
    with meta_parameters() as buffers:  # DINOv2's __init__ calls .item(), which meta_device refuses
        net = DepthAnythingV2(**DEPTH_ANYTHING_VITS)
    specs = state_specs(net, buffers=buffers)
    for key, spec in specs.items():
        if key.endswith(("ls1.gamma", "ls2.gamma")):  # DINOv2's LayerScale multiplies each block's output
            specs[key] = Spec(spec.shape, "ones")
    return with_dtype(specs, "fp32")  # the file the lesson loads is the fp32 one


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
    "control_v11f1p_sd15_depth_fp16.safetensors": ("controlnet", sd15_controlnet),  # same network, reads depth
    "depth_anything_v2_vits_fp32.safetensors": ("depthanything", depth_anything_v2_vits),
    "RealESRGAN_x4plus.safetensors": ("upscale_models", esrgan_x4),
    "wan2.1_t2v_1.3B_fp16.safetensors": ("diffusion_models", wan21_t2v),
    "umt5_xxl_fp8_e4m3fn_scaled.safetensors": ("text_encoders", umt5_xxl_fp8_scaled),
    "wan_2.1_vae.safetensors": ("vae", wan21_vae),
    "ace_step_v1_3.5b.safetensors": ("checkpoints", ace_step),
    "hunyuan3d-dit-v2_fp16.safetensors": ("checkpoints", hunyuan3d_v2),
}


def tensor_seed(seed: int, name: str, key: str) -> int:
    """One generator per tensor, so a tensor's values do not depend on the others or on file order."""
    return zlib.crc32(f"{seed}:{name}:{key}".encode())


def chunks(spec: Spec, dtype: torch.dtype, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """The tensor's values, flat, CHUNK at a time, already in the stored type."""
    total = math.prod(spec.shape)
    if spec.init == "data":
        assert spec.data is not None and spec.data.numel() == total
        yield spec.data.reshape(-1).to(dtype)
        return
    for start in range(0, total, CHUNK):
        count = min(CHUNK, total - start)
        if spec.init == "normal":
            values = torch.empty(count, dtype=torch.float32).normal_(0.0, spec.scale, generator=generator)
        elif spec.init == "ones":
            values = torch.ones(count, dtype=torch.float32)
        elif spec.init == "fill":
            values = torch.full((count,), spec.scale, dtype=torch.float32)
        else:
            values = torch.zeros(count, dtype=torch.float32)
        yield values.to(dtype)


def write_atomic(specs: Specs, target: Path, metadata: dict[str, str], dtype: torch.dtype, seed: int) -> None:
    """Write a safetensors file tensor by tensor (memory: one CHUNK), under a temporary name, then rename.

    The layout is what safetensors itself writes: an 8-byte header length, a JSON header padded with
    spaces to 8 bytes, then the data, wider dtypes first so that every tensor stays aligned.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    dtypes = {key: DTYPES[spec.dtype] if spec.dtype else dtype for key, spec in specs.items()}
    order = sorted(specs, key=lambda key: (-dtypes[key].itemsize, key))
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for key in order:
        size = math.prod(specs[key].shape) * dtypes[key].itemsize
        header[key] = {
            "dtype": SAFETENSORS_DTYPES[dtypes[key]],
            "shape": list(specs[key].shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(struct.pack("<Q", len(raw)) + raw)
            for key in order:
                generator = torch.Generator().manual_seed(tensor_seed(seed, target.name, key))
                for values in chunks(specs[key], dtypes[key], generator):
                    out.write(values.contiguous().view(torch.uint8).numpy().tobytes())
        umask = os.umask(0)
        os.umask(umask)
        temp.chmod(0o666 & ~umask)  # ComfyUI may run as someone else
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def write_model(name: str, out: Path, variant: str, seed: int, dtype: str, comfyui: Path) -> dict[str, Any]:
    """Build and write one model file; returns its summary entry."""
    directory, builder = MODELS[name]
    started = time.perf_counter()
    specs = builder(variant, comfyui)
    target = out / directory / name
    # One key only, so the header is the same on every run.
    metadata = {"atelier_testmodel": f"random weights, not a real model (variant {variant}, seed {seed})"}
    write_atomic(specs, target, metadata, DTYPES[dtype], seed)
    seconds = round(time.perf_counter() - started, 2)
    parameters = sum(math.prod(spec.shape) for key, spec in specs.items() if spec.dtype != "u8")
    log(f"wrote {directory}/{name}: {len(specs)} tensors, {parameters:,} parameters, {seconds}s")
    return {
        "name": name,
        "directory": directory,
        "bytes": target.stat().st_size,
        "seconds": seconds,
        "parameters": parameters,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="base folder; files go to OUT/<model folder>/<name>")
    parser.add_argument("--variant", choices=VARIANTS, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dtype", choices=FILE_DTYPES, default="fp16", help="stored type of tensors whose builder does not fix one"
    )
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
