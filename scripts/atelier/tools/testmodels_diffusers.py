"""A random-weight Stable Diffusion 1.5 in diffusers' folder format, for tools that load that format.

Run by a tool environment's Python (it has torch, diffusers and transformers), never by
atelier's: `python testmodels_diffusers.py --out FOLDER [--full] [--seed N]`. InvokeAI
accepts a single-file SD 1.5 checkpoint only with configuration files from the Hugging
Face hub, which no session may reach; a diffusers folder carries its own, and InvokeAI
tells SD 1.5 from its UNet's cross-attention width (768) and four input channels.

The UNet is SD 1.5's, reduced like the ComfyUI test checkpoint (channel widths 320 and
640, one block per level) unless --full; the VAE and the text encoder are full size.
The weights are random and the tokenizer is made up (every byte a token, no merges):
the pictures are noise, and every page that shows one says so. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

VOCAB = 49408  # CLIP-L's vocabulary size, which the text encoder's embedding table has
TEXT_LENGTH = 77


def _byte_tokens() -> list[str]:
    """Every byte as the printable character byte-level BPE tokenizers use for it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_tokenizer(folder: Path) -> None:
    """A CLIP tokenizer with no merges: a word is split into its bytes (random weights need no better)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens = _byte_tokens()
    names = [*tokens, *(f"{t}</w>" for t in tokens), "<|startoftext|>", "<|endoftext|>"]
    names += [f"<|unused{i}|>" for i in range(VOCAB - len(names))]
    (folder / "vocab.json").write_text(json.dumps({name: i for i, name in enumerate(names)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    config = {**special, "pad_token": "<|endoftext|>", "model_max_length": TEXT_LENGTH, "do_lower_case": True}
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "special_tokens_map.json").write_text(json.dumps(special), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the model's folder (made)")
    parser.add_argument("--full", action="store_true", help="SD 1.5's full-size UNet (for GPU timings)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(args.seed)
    levels = 4 if args.full else 2
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280, 1280)[:levels],
        layers_per_block=2 if args.full else 1,
        down_block_types=("CrossAttnDownBlock2D",) * (levels - 1)
        + ("DownBlock2D" if args.full else "CrossAttnDownBlock2D",),
        up_block_types=("UpBlock2D" if args.full else "CrossAttnUpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        sample_size=512,
        scaling_factor=0.18215,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=VOCAB,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            max_position_embeddings=TEXT_LENGTH,
            hidden_act="quick_gelu",
            projection_dim=768,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
        )
    )
    tokenizer_folder = args.out.with_name(f".{args.out.name}.tokenizer")
    write_tokenizer(tokenizer_folder)
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_folder)),
        unet=unet,
        scheduler=PNDMScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    ).to(torch.float16)
    pipeline.save_pretrained(str(args.out), safe_serialization=True)
    for path in tokenizer_folder.iterdir():
        path.unlink()
    tokenizer_folder.rmdir()
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    print(json.dumps({"written": str(args.out), "bytes": size, "random_weights": True}))


if __name__ == "__main__":
    main()
