"""Image embedders: the base class, one module per implementation, and their registry.

A new embedder is one module with a subclass of :class:`Embedder`, plus its "module:Class" below (or,
from another package, an entry point in group ``pe_workflow.embedders``; see ``registry.py``).
"""

from __future__ import annotations

import logging

import numpy as np

from .. import PEError
from ..devices import resolve_device, torch_device  # re-exported for embedders of other packages
from ..registry import Registry
from .base import Embedder


# Built-ins by "module:Class" (imported on first use; see registry.py): a stage's code digest
# covers the embedder it runs, not every embedder named here.
REGISTRY = Registry(
    "embedder",
    "pe_workflow.embedders",
    Embedder,
    {
        "pixels": "private_evolution.embedders.pixels:PixelEmbedder",
        "effnet_lite0": "private_evolution.embedders.effnet_lite0:EfficientNetLite0Embedder",
        "inception": "private_evolution.embedders.inception:CleanFidInception",
        "classifier": "private_evolution.embedders.classifier:ClassifierFeatures",
    },
)


def embedder_class(name: str) -> type[Embedder]:
    return REGISTRY.get(name)


def make_embedder(embedder_cfg: dict) -> Embedder:
    return embedder_class(embedder_cfg["name"])(embedder_cfg)


def embed_images(embedder: Embedder, images: np.ndarray, private: bool = False) -> np.ndarray:
    """Embed and check the features' width against the embedder's declaration. Non-finite
    features (they would silently break the vote) are refused for public images; for private
    images (``private``) they become the zero vector instead, so that whether the job succeeds
    never depends on one private image (the count goes to the job's private log)."""
    features = embedder.embed(images)
    width = embedder.feature_dim or (features.shape[1] if features.ndim == 2 else -1)
    if features.shape != (len(images), width):
        raise PEError(
            f"the {embedder.name} embedder returned features of shape {features.shape} for {len(images)} images "
            f"(declared feature_dim: {embedder.feature_dim})"
        )
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any() and not private:
        raise PEError(f"the {embedder.name} embedder returned NaN/inf for {int(bad.sum())} of {len(images)} images")
    if bad.any():
        logging.getLogger("private_evolution").warning(
            "the %s embedder returned NaN/inf for %d of %d private images: embedded as the zero vector "
            "(check the embedder; a private job cannot fail on its data)", embedder.name, int(bad.sum()), len(images),
        )
        features = np.where(bad[:, None], 0, features).astype(features.dtype, copy=False)
    return features


__all__ = ["REGISTRY", "Embedder", "embed_images", "embedder_class", "make_embedder", "resolve_device", "torch_device"]
