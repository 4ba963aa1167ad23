"""Generation APIs: the base class, one module per implementation, and their registry.

A new API is one module with a subclass of :class:`API`, plus a loader below (or, from
another package, an entry point in group ``pe_workflow.apis``; see ``registry.py``).
"""

from __future__ import annotations

import numpy as np

from .. import PEError
from ..population import Population
from ..registry import Registry
from .base import API


def _glyph_simulator() -> type:
    from .glyph_simulator import GlyphSimulator

    return GlyphSimulator


def _stable_diffusion() -> type:
    from .stable_diffusion import StableDiffusionAPI

    return StableDiffusionAPI


def _diffusion_unet() -> type:
    from .diffusion_unet import DiffusionUNetAPI

    return DiffusionUNetAPI


def _consistency() -> type:
    from .consistency import ConsistencyAPI

    return ConsistencyAPI


REGISTRY = Registry(
    "API",
    "pe_workflow.apis",
    API,
    {
        "glyph_simulator": _glyph_simulator,
        "stable_diffusion": _stable_diffusion,
        "diffusion_unet": _diffusion_unet,
        "consistency": _consistency,
    },
)


def api_class(name: str) -> type[API]:
    return REGISTRY.get(name)


def make_api(api_cfg: dict, class_names: list[str], image_size: int, channels: int) -> API:
    """The API ``api_cfg['name']`` with its options block ``api_cfg[name]``."""
    name = api_cfg["name"]
    return api_class(name)(class_names, image_size, channels, api_cfg.get(name) or {})


def balanced_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Labels with equal class sizes (the first classes get one more when N is not divisible).

    Class sizes are public: they come from the config, never from the private data.
    """
    if num_samples < num_classes:
        raise PEError(f"pe.num_samples ({num_samples}) must be at least the number of classes ({num_classes})")
    return np.arange(num_samples) % num_classes


__all__ = ["API", "REGISTRY", "Population", "api_class", "balanced_labels", "make_api"]
