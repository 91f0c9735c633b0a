"""Random-weight video, sound and 3D models: Wan 2.1 (its model, UMT5-XXL text encoder and VAE),
ACE-Step v1 and Hunyuan3D 2.0, in the published key layouts.

Part of the standalone worker testmodels_torch.py (run with ComfyUI's Python, importing nothing
from `atelier`); what ComfyUI reads from each file and what it fixes is said beside each builder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from testmodels_torch_specs import (
    Spec,
    Specs,
    meta_device,
    meta_parameters,
    renamed,
    spiece_spec,
    state_specs,
    with_dtype,
)

# Wan 2.1 text-to-video as ComfyUI's detection reports it (comfy/model_detection.py, "head.modulation"):
# dim, ffn_dim, in/out_dim and the number of blocks come from the shapes, heads = dim // 128.
WAN21_T2V: dict[str, Any] = {
    "image_model": "wan2.1",
    "model_type": "t2v",
    "patch_size": (1, 2, 2),
    "freq_dim": 256,
    "window_size": (-1, -1),
    "qk_norm": True,
    "cross_attn_norm": True,
    "eps": 1e-6,
    "in_dim": 16,
    "out_dim": 16,
}
WAN21_SIZE = {
    "tiny": {"dim": 256, "ffn_dim": 512, "num_layers": 2},  # 2 heads of 128, as Wan's rope needs
    "full": {"dim": 1536, "ffn_dim": 8960, "num_layers": 30},
}  # the published 1.3B
# The Wan 2.1 VAE config ComfyUI hard-codes in comfy/sd.py (VAE.__init__, "decoder.middle.0.residual.0.gamma").
WAN21_VAE: dict[str, Any] = {
    "dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "dropout": 0.0,
}
# Hunyuan3D 2.0 DiT as detected ("latent_in.weight"): hidden_size and both depths come from the shapes,
# heads are fixed at 16; context_in_dim must match DINOv2-giant (1536).
HUNYUAN3D_DIT: dict[str, Any] = {
    "image_model": "hunyuan3d2",
    "in_channels": 64,
    "context_in_dim": 1536,
    "mlp_ratio": 4.0,
    "num_heads": 16,
    "qkv_bias": True,
    "guidance_embed": False,
}
HUNYUAN3D_SIZE = {
    "tiny": {"hidden_size": 256, "depth": 1, "depth_single_blocks": 1},
    "full": {"hidden_size": 1024, "depth": 16, "depth_single_blocks": 32},
}
# ACE-Step v1 3.5B: the detector ("genre_embedder.weight") fixes every dimension, so full size only.
ACE_STEP: dict[str, Any] = {
    "audio_model": "ace",
    "attention_head_dim": 128,
    "in_channels": 8,
    "inner_dim": 2560,
    "max_height": 16,
    "max_position": 32768,
    "max_width": 32768,
    "mlp_ratio": 2.5,
    "num_attention_heads": 20,
    "num_layers": 24,
    "out_channels": 8,
    "patch_size": [16, 1],
    "rope_theta": 1000000.0,
    "speaker_embedding_dim": 512,
    "text_embedding_dim": 768,
    "ssl_encoder_depths": [8, 8],
    "ssl_latent_dims": [1024, 768],
    "ssl_names": ["mert", "m-hubert"],
    "lyric_encoder_vocab_size": 6693,
    "lyric_hidden_size": 1024,
}


def wan21_t2v(variant: str, comfyui: Path) -> Specs:
    """Wan 2.1 text-to-video diffusion model (Comfy-Org split file: Wan's own key names, no prefix).

    ComfyUI reads dim, ffn_dim, in/out_dim and depth from the shapes, so `tiny` is a 2-block, 256-wide Wan.
    """
    import comfy.ops
    from comfy.ldm.wan.model import WanModel

    config = {**WAN21_T2V, **WAN21_SIZE[variant]}
    config["num_heads"] = config["dim"] // 128
    with meta_device():
        net = WanModel(**config, operations=comfy.ops.disable_weight_init, device="meta")
    return state_specs(net)


def wan21_vae(variant: str, comfyui: Path) -> Specs:
    """Wan 2.1 video VAE (Wan's own key names); ComfyUI hard-codes its config, so full size only (127M)."""
    from comfy.ldm.wan.vae import WanVAE

    with meta_device():
        vae = WanVAE(**WAN21_VAE)
    return state_specs(vae)


def umt5_xxl_fp8_scaled(variant: str, comfyui: Path) -> Specs:
    """UMT5-XXL encoder as in umt5_xxl_fp8_e4m3fn_scaled: full size only (5.7B parameters).

    CLIPLoader type `wan` builds it from the fixed umt5_config_xxl.json after detect_te_model() finds
    encoder.block.23...wi_1 4096 wide, so no smaller one loads. Layout of the Comfy-Org file: T5 keys
    without prefix; each of the 168 Linear weights in float8_e4m3fn with a float32 scalar
    `<layer>.scale_weight` (weight = fp8 * scale, comfy/ops.py scaled_fp8_ops); an empty float8
    tensor `scaled_fp8`, which t5_xxl_detect() looks for to switch to those ops; embeddings and norms
    in --dtype (fp16 published); and the tokenizer as `spiece_model`.
    """
    import comfy.ops
    from comfy.text_encoders.t5 import T5

    config = json.loads((comfyui / "comfy" / "text_encoders" / "umt5_config_xxl.json").read_text())
    with meta_device():
        t5 = T5(config, torch.float16, "meta", comfy.ops.disable_weight_init)
    specs = state_specs(t5)
    for name, module in t5.named_modules():
        if isinstance(module, torch.nn.Linear):
            spec = specs[f"{name}.weight"]
            # Unit-variance fp8 values use e4m3's precision well; the scale brings them to N(0, 1/fan_in).
            specs[f"{name}.weight"] = Spec(spec.shape, "normal", 1.0, "fp8_e4m3fn")
            specs[f"{name}.scale_weight"] = Spec((), "fill", spec.scale, "fp32")
    specs["scaled_fp8"] = Spec((0,), "zeros", dtype="fp8_e4m3fn")
    specs["spiece_model"] = spiece_spec()
    return specs


def ace_step(variant: str, comfyui: Path) -> Specs:
    """ACE-Step v1 3.5B all-in-one checkpoint: full size only, in bf16 (ComfyUI runs ACE in bf16 or fp32).

    Transformer under model.diffusion_model., UMT5-base text encoder under text_encoders.umt5base.transformer.
    with its tokenizer as text_encoders.spiece_model, the music DCAE and vocoder under vae.: what
    ComfyUI's own save-side conversions (supported_models.ACEStep) give.
    """
    import comfy.ops
    import comfy.supported_models
    from comfy.ldm.ace.model import ACEStepTransformer2DModel
    from comfy.ldm.ace.vae.music_dcae_pipeline import MusicDCAE
    from comfy.text_encoders.t5 import T5

    model_config = comfy.supported_models.ACEStep(dict(ACE_STEP))
    config = json.loads((comfyui / "comfy" / "text_encoders" / "umt5_config_base.json").read_text())
    with meta_device():
        dit = ACEStepTransformer2DModel(**ACE_STEP, operations=comfy.ops.disable_weight_init, device="meta")
        t5 = T5(config, torch.bfloat16, "meta", comfy.ops.disable_weight_init)
    with meta_parameters() as buffers:  # the vocoder computes in __init__, which meta_device() can't
        vae = MusicDCAE(source_sample_rate=44100)
    specs = renamed(state_specs(dit), model_config.process_unet_state_dict_for_saving)
    clip = state_specs(t5, "umt5base.transformer.")
    clip["spiece_model"] = spiece_spec()
    specs.update(renamed(clip, model_config.process_clip_state_dict_for_saving))
    specs.update(renamed(state_specs(vae, buffers=buffers), model_config.process_vae_state_dict_for_saving))
    return with_dtype(specs, "bf16")


def hunyuan3d_v2(variant: str, comfyui: Path) -> Specs:
    """Hunyuan3D 2.0 checkpoint: DiT (model.), DINOv2-giant image encoder
    (conditioner.main_image_encoder.model.) and the shape VAE's decoder (vae.).

    ComfyUI reads the DiT's width and depths from the shapes (`tiny`: 256 wide, one block of each
    kind); DINOv2-giant (found by encoder.layer.39) and the ShapeVAE are fixed configs, full size. As
    in the published file, the VAE's point-cloud encoder (vae.encoder., vae.pre_kl.) is left out:
    image-to-3D never encodes, and ComfyUI only logs those keys as missing.
    """
    import comfy.ops
    import comfy.supported_models
    from comfy.image_encoders.dino2 import Dinov2Model
    from comfy.ldm.hunyuan3d.model import Hunyuan3Dv2
    from comfy.ldm.hunyuan3d.vae import ShapeVAE

    config = {**HUNYUAN3D_DIT, **HUNYUAN3D_SIZE[variant]}
    model_config = comfy.supported_models.Hunyuan3Dv2(dict(config))
    dino_config = json.loads((comfyui / "comfy" / "image_encoders" / "dino2_giant.json").read_text())
    with meta_device():
        dit = Hunyuan3Dv2(**config, operations=comfy.ops.disable_weight_init, device="meta")
        dino = Dinov2Model(dino_config, torch.float16, "meta", comfy.ops.disable_weight_init)
        vae = ShapeVAE()
    specs = renamed(state_specs(dit), model_config.process_unet_state_dict_for_saving)
    specs.update(renamed(state_specs(dino), model_config.process_clip_vision_state_dict_for_saving))
    decoder = {key: spec for key, spec in state_specs(vae).items() if not key.startswith(("encoder.", "pre_kl."))}
    specs.update(renamed(decoder, model_config.process_vae_state_dict_for_saving))
    return specs
