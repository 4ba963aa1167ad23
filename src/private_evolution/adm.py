"""OpenAI's ADM UNets (improved-diffusion, guided-diffusion) as diffusers models.

The paper's generator is improved-diffusion's class-conditional ImageNet-64 model
(``imagenet64_cond_270M_250K.pt``); guided-diffusion's ``64x64_diffusion.pt`` is
the same architecture family (ADM) with a few more switches.

- ``adm_unet.ADMUNet2DModel``: the ADM UNet built from diffusers' own blocks
  (ResnetBlock2D, Attention, Downsample2D/Upsample2D, Timesteps) with
  ``ModelMixin``/``ConfigMixin``, so ``save_pretrained``/``from_pretrained`` work. Its
  parameter names are those of a stock ``UNet2DModel``; it exists because
  ``UNet2DModel`` takes one attention head dimension for every level, while the 270M
  model fixes the head *count* (4), so its head dimension differs by level
  (tests/test_adm.py shows a stock UNet2DModel matching where the head dimension is
  fixed and not where the count is). It also scales timesteps for checkpoints trained
  with ``rescale_timesteps``. ``adm_unet`` also converts the reference's state dicts,
  with a clear error naming the first key or shape that does not fit the flags.
- here, without torch: the reference code's architecture and diffusion flags, named
  presets for the published checkpoints, the model and noise-schedule configs they
  give, and the converted folder's record;
- ``adm_unet.convert_checkpoint``: writes ``unet/`` (the model), ``scheduler/`` (a
  ``DDIMScheduler`` with the checkpoint's noise schedule) and
  ``adm_conversion.json`` (flags, the checkpoint's sha256 and the digest of every
  written file) to a folder, once; ``python -m private_evolution.convert_adm`` is its
  command line.

The reference code (``guided_diffusion``, package ``guided-diffusion-sdk``) is
needed only by the tests, never here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from . import PEError

NUM_CLASSES = 1000  # the reference's class-conditional models are ImageNet's
CONVERSION_FILE = "adm_conversion.json"
MODEL_CLASS = "ADMUNet2DModel"  # adm_unet.py
UNET_FOLDER = "unet"
SCHEDULER_FOLDER = "scheduler"

# The reference's default channel multipliers by image size (guided-diffusion's table,
# plus improved-diffusion's 32, which guided-diffusion dropped).
CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
    32: (1, 2, 2, 2),
}

# guided-diffusion's script_util.model_and_diffusion_defaults(), restricted to the flags
# that change the network or its DDIM sampling.
GUIDED_DEFAULTS = {
    "image_size": 64,
    "num_channels": 128,
    "num_res_blocks": 2,
    "channel_mult": "",
    "attention_resolutions": "16,8",
    "num_heads": 4,
    "num_head_channels": -1,
    "num_heads_upsample": -1,
    "use_scale_shift_norm": True,
    "resblock_updown": False,
    "use_new_attention_order": False,
    "class_cond": False,
    "learn_sigma": False,
    "diffusion_steps": 1000,
    "noise_schedule": "linear",
    "predict_xstart": False,
    "rescale_timesteps": False,
}
# improved-diffusion's defaults differ in one flag that matters here: the model is fed
# t * 1000 / diffusion_steps unless a run said --rescale_timesteps False.
IMPROVED_DEFAULTS = {**GUIDED_DEFAULTS, "rescale_timesteps": True}

# Flags of the reference scripts that change neither the weights' layout nor DDIM
# sampling: accepted (so that a README's MODEL_FLAGS paste as they are) and recorded.
IGNORED_FLAGS = {
    "dropout": "training only",
    "use_fp16": "the reference's half-precision torso; our dtype is the API's dtype option",
    "use_checkpoint": "gradient checkpointing, training only",
    "use_kl": "training loss",
    "rescale_learned_sigmas": "training loss",
    "sigma_small": "variance of ancestral sampling; DDIM with eta 0 has none",
    "timestep_respacing": "sampling steps are the API's steps option",
}

# Named presets: a base of defaults plus the published run flags.
PRESETS = {
    "imagenet64_cond_270M_250K": {
        "about": "improved-diffusion's class-conditional ImageNet-64 model, 270M parameters (the PE paper's generator)",
        "base": "improved-diffusion",
        "flags": {
            "image_size": 64, "num_channels": 192, "num_res_blocks": 3, "learn_sigma": True, "class_cond": True,
            "diffusion_steps": 4000, "noise_schedule": "cosine", "rescale_timesteps": False,
        },
    },
    "64x64_diffusion": {
        "about": "guided-diffusion's class-conditional ImageNet 64x64 model (ADM)",
        "base": "guided-diffusion",
        "flags": {
            "image_size": 64, "num_channels": 192, "num_res_blocks": 3, "attention_resolutions": "32,16,8",
            "num_head_channels": 64, "resblock_updown": True, "use_new_attention_order": True,
            "use_scale_shift_norm": True, "learn_sigma": True, "class_cond": True, "diffusion_steps": 1000,
            "noise_schedule": "cosine",
        },
    },
    "imagenet64_uncond_100M_1500K": {
        "about": "improved-diffusion's unconditional ImageNet-64 model (L_hybrid, cosine schedule)",
        "base": "improved-diffusion",
        "flags": {
            "image_size": 64, "num_channels": 128, "num_res_blocks": 3, "learn_sigma": True,
            "diffusion_steps": 4000, "noise_schedule": "cosine",
        },
    },
    "cifar10_uncond_50M_500K": {
        "about": "improved-diffusion's unconditional CIFAR-10 model (L_hybrid, cosine schedule)",
        "base": "improved-diffusion",
        "flags": {
            "image_size": 32, "num_channels": 128, "num_res_blocks": 3, "learn_sigma": True,
            "diffusion_steps": 4000, "noise_schedule": "cosine",
        },
    },
    "improved-diffusion": {"about": "improved-diffusion's script defaults (give the run's flags on top)", "flags": {}},
    "guided-diffusion": {"about": "guided-diffusion's script defaults (give the run's flags on top)", "flags": {}},
}
BASES = {"improved-diffusion": IMPROVED_DEFAULTS, "guided-diffusion": GUIDED_DEFAULTS}


def _parse_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "true", "t", "y", "1"):
        return True
    if text in ("no", "false", "f", "n", "0"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _flag_value(name: str, value):
    kind = type(GUIDED_DEFAULTS[name])
    try:
        if kind is bool:
            return _parse_bool(value)
        if kind is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise ValueError(value)
            return int(float(value))
        if name == "channel_mult" and isinstance(value, (list, tuple)):
            return ",".join(f"{m:g}" for m in value)
        if name == "attention_resolutions" and isinstance(value, (list, tuple)):
            return ",".join(str(int(r)) for r in value)
        return str(value)
    except (TypeError, ValueError):
        raise PEError(f"ADM flag {name} takes a {kind.__name__}, got {value!r}") from None


def resolve_flags(preset: str | None, overrides: dict | None = None) -> dict:
    """A preset's flags (or the guided-diffusion defaults) with ``overrides`` on top, checked."""
    overrides = dict(overrides or {})
    if preset is None:
        base = GUIDED_DEFAULTS
    elif preset not in PRESETS:
        raise PEError(f"unknown ADM preset {preset!r}; presets: {', '.join(PRESETS)}")
    else:
        base = BASES[PRESETS[preset].get("base", preset)]
    flags = dict(base)
    if preset is not None:
        flags.update(PRESETS[preset]["flags"])
    for name, value in overrides.items():
        if name in IGNORED_FLAGS:
            continue
        if name not in GUIDED_DEFAULTS:
            known = sorted([*GUIDED_DEFAULTS, *IGNORED_FLAGS])
            raise PEError(f"unknown ADM flag {name!r}; flags: {', '.join(known)}")
        flags[name] = _flag_value(name, value)
    _check_flags(flags)
    return flags


def _channel_mult(flags: dict) -> tuple[float, ...]:
    if flags["channel_mult"]:
        try:
            return tuple(float(m) for m in str(flags["channel_mult"]).split(","))
        except ValueError:
            raise PEError(f"ADM flag channel_mult must be comma-separated numbers, got {flags['channel_mult']!r}") from None
    if flags["image_size"] not in CHANNEL_MULT:
        raise PEError(
            f"the reference code has no default channel_mult for image_size {flags['image_size']} "
            f"(it has {sorted(CHANNEL_MULT)}); give channel_mult"
        )
    return CHANNEL_MULT[flags["image_size"]]


def _attention_ds(flags: dict) -> set[int]:
    text = str(flags["attention_resolutions"]).strip()
    if not text:
        return set()
    try:
        resolutions = [int(r) for r in text.split(",")]
    except ValueError:
        raise PEError(f"ADM flag attention_resolutions must be comma-separated resolutions, got {text!r}") from None
    return {flags["image_size"] // r for r in resolutions}


def _head_dim(channels: int, num_heads: int, num_head_channels: int, where: str) -> int:
    if num_head_channels != -1:
        if num_head_channels <= 0 or channels % num_head_channels:
            raise PEError(f"ADM flags: {where} has {channels} channels, not divisible by num_head_channels {num_head_channels}")
        return num_head_channels
    if num_heads <= 0 or channels % num_heads:
        raise PEError(f"ADM flags: {where} has {channels} channels, not divisible by num_heads {num_heads}")
    return channels // num_heads


def _check_flags(flags: dict) -> None:
    if flags["noise_schedule"] not in ("linear", "cosine"):
        raise PEError(f"ADM flag noise_schedule must be linear or cosine, got {flags['noise_schedule']!r}")
    for name in ("image_size", "num_channels", "num_res_blocks", "diffusion_steps"):
        if flags[name] < 1:
            raise PEError(f"ADM flag {name} must be positive, got {flags[name]}")
    model_config(flags)  # channel_mult, attention and head counts


def model_config(flags: dict) -> dict:
    """``ADMUNet2DModel``'s config for the reference's flags (what its ``create_model`` builds)."""
    mult = _channel_mult(flags)
    channels = [int(m * flags["num_channels"]) for m in mult]
    bad = [c for c in channels if c % 32]
    if bad:
        raise PEError(f"ADM flags give levels of {channels} channels; group normalisation needs multiples of 32")
    attention = _attention_ds(flags)
    heads_up = flags["num_heads_upsample"] if flags["num_heads_upsample"] != -1 else flags["num_heads"]
    down, up = [], []
    for level, ch in enumerate(channels):
        has = 2**level in attention
        down.append(_head_dim(ch, flags["num_heads"], flags["num_head_channels"], f"level {level}") if has else None)
        up.append(_head_dim(ch, heads_up, flags["num_head_channels"], f"level {level} (up)") if has else None)
    return {
        "sample_size": flags["image_size"],
        "in_channels": 3,
        "out_channels": 6 if flags["learn_sigma"] else 3,
        "model_channels": flags["num_channels"],
        "block_out_channels": channels,
        "layers_per_block": flags["num_res_blocks"],
        "down_attention_head_dims": down,
        "up_attention_head_dims": up,
        "mid_attention_head_dim": _head_dim(channels[-1], flags["num_heads"], flags["num_head_channels"], "the middle block"),
        "resnet_time_scale_shift": "scale_shift" if flags["use_scale_shift_norm"] else "default",
        "resblock_updown": flags["resblock_updown"],
        "num_class_embeds": NUM_CLASSES if flags["class_cond"] else None,
        "timestep_scale": 1000.0 / flags["diffusion_steps"] if flags["rescale_timesteps"] else 1.0,
    }


def scheduler_config(flags: dict) -> dict:
    """The DDIMScheduler of the reference's noise schedule and its DDIM sampler (x0 clipped to [-1, 1]).

    The reference's ``ddimN`` respacing keeps timesteps 0, s, 2s, ... (s = steps // N),
    which is DDIMScheduler's ``leading`` spacing with no offset.
    """
    steps = flags["diffusion_steps"]
    return {
        "num_train_timesteps": steps,
        "beta_schedule": "squaredcos_cap_v2" if flags["noise_schedule"] == "cosine" else "linear",
        # the reference's linear schedule, extended to any number of steps
        "beta_start": 0.0001 * 1000 / steps,
        "beta_end": 0.02 * 1000 / steps,
        "clip_sample": True,
        "clip_sample_range": 1.0,
        "set_alpha_to_one": True,
        "steps_offset": 0,
        "timestep_spacing": "leading",
        "prediction_type": "sample" if flags["predict_xstart"] else "epsilon",
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_files(folder: Path) -> dict[str, str]:
    """sha256 of every file the conversion wrote, by path relative to ``folder`` (its record excluded)."""
    return {
        path.relative_to(folder).as_posix(): _sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != CONVERSION_FILE
    }


def folder_digest(files: dict[str, str]) -> str:
    """One digest for the converted folder: sha256 over its files' paths and digests."""
    return hashlib.sha256("".join(f"{name}\0{digest}\n" for name, digest in sorted(files.items())).encode()).hexdigest()


def read_record(folder: str | os.PathLike) -> dict | None:
    path = Path(folder) / CONVERSION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def verify_folder(folder: str | os.PathLike) -> dict:
    """The conversion record, after checking that the folder's files still have the recorded digests."""
    folder = Path(folder)
    record = read_record(folder)
    if record is None:
        raise PEError(f"{folder} has no {CONVERSION_FILE}: it was not written by convert_adm")
    files = folder_files(folder)
    if files != record["files"]:
        changed = sorted(set(files.items()) ^ set(record["files"].items()))
        raise PEError(f"{folder} differs from its {CONVERSION_FILE} (first difference: {changed[0][0]}); convert again")
    return record
