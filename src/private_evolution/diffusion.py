"""Foundation-model APIs through diffusers (PE "APIs 1"): Stable Diffusion and any UNet2DModel.

``stable_diffusion``: RANDOM_API is text-to-image from per-class prompts;
VARIATION_API is image-to-image whose ``strength`` is the variation degree.
``diffusion_unet``: RANDOM_API denoises pure noise with DDIM; VARIATION_API
noises a sample to the point of the trajectory set by the degree and denoises
it back (SDEdit). In both, degree d in [0, 1] is the fraction of the
denoising trajectory that is redone: 1 forgets the parent, 0 keeps it.

Every sample has its own seed: its initial noise and its prompt (or model
class) come from a generator seeded with it, so a sample does not depend on
which other samples share its batch or shard. Weights load lazily, on the
first call, so that checking a config never touches the model.

Here the torch helpers those APIs share; their base class is ``apis/diffusers_api.py``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from . import PEError
from .progress import Progress

logger = logging.getLogger("private_evolution")

# Variation degrees of these APIs are fractions of a denoising trajectory.
MAX_DEGREE = 1.0


def resolve_dtype(requested: str, device: str):
    """``auto``: float16 on CUDA (half the memory, tensor cores), float32 on the CPU."""
    import torch

    if requested == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    if requested in ("float16", "bfloat16") and device == "cpu":
        raise PEError(f"dtype {requested} is for CUDA; use auto or float32 on the CPU")
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[requested]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def missing_model_message(model: str, what: str, err: Exception) -> str:
    from huggingface_hub import constants

    return (
        f"cannot load the {what} '{model}': it is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
        + ("and HF_HUB_OFFLINE is set, so no download was tried. " if hub_offline() else
           f"and could not be downloaded ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). ") +
        f"On a machine with internet access run `hf download {model}` (older huggingface_hub: "
        "`huggingface-cli download`), copy its cache folder here and point HF_HOME at it; or save the "
        "model with save_pretrained and set the API's `model` option to that local folder. "
        "HF_HUB_OFFLINE=1 skips the download attempt."
    )


def load_pretrained(loader, model: str, what: str, **kwargs):
    """``loader.from_pretrained`` for a local folder or a hub id, with errors that say how to fix them.

    A hub id is looked up in the local cache first, so an offline machine with a
    filled cache never waits on the network.
    """
    local = Path(model).expanduser()
    if local.exists():
        try:
            return loader.from_pretrained(str(local), **kwargs)
        except (OSError, ValueError, KeyError) as err:
            raise PEError(
                f"cannot load the {what} from the local folder '{local}': {err}. It must be a folder written "
                "by diffusers' save_pretrained (model_index.json or config.json plus weights)"
            ) from err
    try:
        return loader.from_pretrained(model, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_err:
        if hub_offline():
            raise PEError(missing_model_message(model, what, cached_err)) from cached_err
    try:
        return loader.from_pretrained(model, **kwargs)
    except Exception as err:  # network, authentication, missing files: all mean "not available here"
        raise PEError(missing_model_message(model, what, err)) from err


def sample_generators(seeds: np.ndarray) -> list:
    """One CPU torch generator per sample: the same noise on every device and batch size."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


def to_model_pixels(images: np.ndarray, size: int, device: str, dtype):
    """uint8 (N, H, W, C) -> float (N, 3, size, size) in [0, 1] for a model that works at ``size``."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    return x.to(device=device, dtype=dtype)


def to_dataset_pixels(x, image_size: int, channels: int) -> np.ndarray:
    """float (N, 3, h, w) in [0, 1] -> uint8 (N, image_size, image_size, channels)."""
    import torch
    import torch.nn.functional as F

    x = x.float().clamp(0, 1)
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    if channels == 1:
        # ITU-R BT.601 luma, as PIL's convert("L")
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    pixels = (x.clamp(0, 1) * 255.0).round().to(dtype=torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def check_degree(degree: float) -> None:
    if not 0.0 <= degree <= MAX_DEGREE:
        raise PEError(f"diffusion variation degrees are fractions of the trajectory in [0, 1], got {degree}")


class _Batches:
    """Batched generation with progress lines (count, images/s, time left: progress.py) and a
    summary line in the log."""

    def __init__(self, total: int, batch_size: int, what: str):
        self.total, self.batch_size, self.what = total, batch_size, what
        self.progress = Progress(total, what, logger)
        self.start = time.perf_counter()

    def __iter__(self):
        for begin in range(0, self.total, self.batch_size):
            end = min(begin + self.batch_size, self.total)
            yield begin, end
            self.progress.update(end - begin)
        seconds = time.perf_counter() - self.start
        logger.info("%s: %d images in %.1f s (%.2f images/s)", self.what, self.total, seconds, self.total / max(seconds, 1e-9))
