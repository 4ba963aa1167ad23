"""Generation APIs: a registry from config name to class.

An API makes a private-data-free population (RANDOM_API) and varies a selected
one (VARIATION_API). Both take one seed per sample so that a sample's pixels do
not depend on batching or sharding.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import PEError


def _glyph_simulator(api_cfg: dict, class_names: list[str], image_size: int, channels: int):
    from .simulator import GlyphSimulator

    return GlyphSimulator(class_names, image_size, channels, api_cfg.get("glyph_simulator", {}))


def _stable_diffusion(api_cfg: dict, class_names: list[str], image_size: int, channels: int):
    from .diffusion import StableDiffusionAPI

    return StableDiffusionAPI(class_names, image_size, channels, api_cfg.get("stable_diffusion", {}))


def _diffusion_unet(api_cfg: dict, class_names: list[str], image_size: int, channels: int):
    from .diffusion import DiffusionUNetAPI

    return DiffusionUNetAPI(class_names, image_size, channels, api_cfg.get("diffusion_unet", {}))


APIS: dict[str, Callable] = {
    "glyph_simulator": _glyph_simulator,
    "stable_diffusion": _stable_diffusion,
    "diffusion_unet": _diffusion_unet,
}


def make_api(api_cfg: dict, class_names: list[str], image_size: int, channels: int):
    name = api_cfg["name"]
    if name not in APIS:
        raise PEError(f"unknown api.name '{name}'; known: {sorted(APIS)}")
    return APIS[name](api_cfg, class_names, image_size, channels)


def balanced_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Labels with equal class sizes (the first classes get one more when N is not divisible).

    Class sizes are public: they come from the config, never from the private data.
    """
    if num_samples < num_classes:
        raise PEError(f"pe.num_samples ({num_samples}) must be at least the number of classes ({num_classes})")
    return np.arange(num_samples) % num_classes
