"""Diffusers models with random weights, saved with save_pretrained, for tests and GPU benchmarks.

Nothing here downloads: the architectures are built from their configs (the
real diffusers / transformers classes) and saved to a local folder, which the
APIs then load through the same ``model:`` option users set. ``tiny`` sizes
run in CI on a CPU; ``sd15`` is the full architecture of Stable Diffusion 1.5,
for the GPU check. ``save_adm`` writes the real ADM architecture of a preset
(``ADMUNet2DModel``, e.g. improved diffusion's 270M class-conditional ImageNet-64
model, the paper's CIFAR-10 generator) as the folder ``convert_adm`` writes;
``imagenet64_270m`` is a stock ``UNet2DModel`` of about that size, an
approximation only (it fixes the head dimension where the real model fixes the
head count).
"""

from __future__ import annotations

import json
import string
from pathlib import Path


def _save_char_tokenizer(folder: Path):
    """A CLIP tokenizer over single characters (real class, small vocabulary files written here)."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + string.punctuation:
        vocab[char] = len(vocab)
        vocab[char + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


SD_SIZES = {
    "tiny": dict(
        unet=dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, attention_head_dim=2,
                  cross_attention_dim=16, sample_size=16, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
        vae=dict(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                 down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2),
        text=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2),
    ),
    "sd15": dict(
        unet=dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, attention_head_dim=8,
                  cross_attention_dim=768, sample_size=64),
        vae=dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512,
                 down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4),
        text=dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                  hidden_act="quick_gelu"),
    ),
}


def save_stable_diffusion(folder: Path, size: str = "tiny", seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    spec = SD_SIZES[size]
    torch.manual_seed(seed)
    folder = Path(folder)
    tokenizer = _save_char_tokenizer(folder.parent / f".{folder.name}_tokenizer_files")
    text_config = CLIPTextConfig(vocab_size=49408 if size != "tiny" else len(tokenizer), max_position_embeddings=77,
                                 bos_token_id=0, eos_token_id=1, pad_token_id=1, **spec["text"])
    pipeline = StableDiffusionPipeline(
        vae=AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **spec["vae"]),
        text_encoder=CLIPTextModel(text_config),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(in_channels=4, out_channels=4, **spec["unet"]),
        # SD 1.x's noise schedule, with DDIM sampling
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(str(folder))
    return folder


UNET_SIZES = {
    "tiny": dict(sample_size=16, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                 attention_head_dim=4, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                 up_block_types=("AttnUpBlock2D", "UpBlock2D")),
    # about the size of improved diffusion's ImageNet 64x64 class-conditional model (192 channels, 3 res blocks,
    # mult (1, 2, 3, 4), learned variance, 1000 classes) as a stock UNet2DModel: an approximation (attention
    # at 32, 16 and 8 with 64-d heads; the real model, save_adm's, has 4 heads at 16 and 8)
    "imagenet64_270m": dict(sample_size=64, block_out_channels=(192, 384, 576, 768), layers_per_block=3,
                            attention_head_dim=64, down_block_types=("DownBlock2D",) + ("AttnDownBlock2D",) * 3,
                            up_block_types=("AttnUpBlock2D",) * 3 + ("UpBlock2D",)),
}


def save_unet(folder: Path, size: str = "tiny", num_class_embeds: int | None = 10, learned_variance: bool = False,
              as_pipeline: bool = False, seed: int = 0) -> Path:
    """A UNet2DModel; with ``as_pipeline`` a DDPMPipeline folder (unet/ and scheduler/ subfolders)."""
    import torch
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(in_channels=3, out_channels=6 if learned_variance else 3, num_class_embeds=num_class_embeds,
                       **UNET_SIZES[size])
    folder = Path(folder)
    if as_pipeline:
        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(beta_schedule="squaredcos_cap_v2")).save_pretrained(str(folder))
    else:
        unet.save_pretrained(str(folder))
    return folder


def save_adm(folder: Path, preset: str = "imagenet64_cond_270M_250K", overrides: dict | None = None,
             seed: int = 0, device: str = "cpu") -> dict:
    """A preset's real ADM architecture (``ADMUNet2DModel``) with random weights, written as
    ``convert_adm`` writes a converted checkpoint: ``unet/``, ``scheduler/`` (the preset's
    DDIMScheduler) and ``adm_conversion.json`` (whose source names no checkpoint: random
    weights). The diffusion_unet API loads it through its ``model`` option like a real
    conversion. Returns the record. ``device``: where the weights are initialised (fast on CUDA).
    """
    import hashlib
    import json

    import torch
    from diffusers import DDIMScheduler

    from private_evolution import adm
    from private_evolution.adm_unet import ADMUNet2DModel

    flags = adm.resolve_flags(preset, overrides)
    torch.manual_seed(seed)
    with torch.device(device):
        model = ADMUNet2DModel(**adm.model_config(flags)).eval()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder / adm.UNET_FOLDER, safe_serialization=True)
    DDIMScheduler(**adm.scheduler_config(flags)).save_pretrained(folder / adm.SCHEDULER_FOLDER)
    files = adm.folder_files(folder)
    label = f"random weights, seed {seed} (benchmarks/diffusers_models.py)"
    record = {
        "source": {"path": label, "name": label, "sha256": hashlib.sha256(label.encode()).hexdigest()},
        "preset": preset,
        "flags": flags,
        "ignored_flags": {},
        "model_class": type(model).__name__,
        "parameters": parameter_count(model),
        "files": files,
        "digest": adm.folder_digest(files),
    }
    (folder / adm.CONVERSION_FILE).write_text(json.dumps(record, indent=2) + "\n")
    return record


def parameter_count(module) -> int:
    return sum(p.numel() for p in module.parameters())
