"""Generation APIs: the base class, one module per implementation, and their registry.

A new API is one module with a subclass of :class:`API`, plus its "module:Class" below (or, from
another package, an entry point in group ``pe_workflow.apis``; see ``registry.py``).
"""

from __future__ import annotations

import numpy as np

from .. import PEError
from ..population import Population
from ..registry import Registry
from .base import API


# Built-ins by "module:Class" (imported on first use; see registry.py): a stage's code digest
# covers the API it runs, not every API named here.
REGISTRY = Registry(
    "API",
    "pe_workflow.apis",
    API,
    {
        "glyph_simulator": "private_evolution.apis.glyph_simulator:GlyphSimulator",
        "stable_diffusion": "private_evolution.apis.stable_diffusion:StableDiffusionAPI",
        "diffusion_unet": "private_evolution.apis.diffusion_unet:DiffusionUNetAPI",
        "consistency": "private_evolution.apis.consistency:ConsistencyAPI",
    },
)


def api_class(name: str) -> type[API]:
    return REGISTRY.get(name)


def make_api(api_cfg: dict, class_names: list[str], image_size: int, channels: int, threads: int | None = None) -> API:
    """The API ``api_cfg['name']`` with its options block ``api_cfg[name]``, its calls kept to
    ``threads`` processors (the job's; None: all the process may use)."""
    name = api_cfg["name"]
    api = api_class(name)(class_names, image_size, channels, api_cfg.get(name) or {})
    if threads is not None:  # else the class's own (None for the built-ins: every processor)
        api.threads = threads
    return api


def balanced_labels(num_samples: int, num_classes: int) -> np.ndarray:
    """Labels with equal class sizes (the first classes get one more when N is not divisible).

    Class sizes are public: they come from the config, never from the private data.
    """
    if num_samples < num_classes:
        raise PEError(f"pe.num_samples ({num_samples}) must be at least the number of classes ({num_classes})")
    return np.arange(num_samples) % num_classes


__all__ = ["API", "REGISTRY", "Population", "api_class", "balanced_labels", "make_api"]
