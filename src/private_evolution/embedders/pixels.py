"""The pixels embedder: flattened pixels in [0, 1], a weight-free feature space."""

from __future__ import annotations

import numpy as np

from .base import Embedder


class PixelEmbedder(Embedder):
    name = "pixels"
    needs_gpu = False
    cpu_only = True
    label = "pixel"

    def __init__(self, options: dict):
        super().__init__(options)
        self.batch_size = int(options.get("batch_size", 1024))

    def embed(self, images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1).astype(np.float32) / 255.0
