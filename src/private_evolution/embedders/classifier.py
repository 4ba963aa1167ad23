"""The classifier embedder: the penultimate layer of the small CNN trained on the validation part."""

from __future__ import annotations

import numpy as np

from ..cnn_features import WEIGHT_KEYS, penultimate
from ..io import load_npz
from .base import Embedder

# Images per forward pass. The second convolution's patch matrix holds batch x 196 x 288 floats:
# 7 MB at 32 stays in the caches, 115 MB at 512 streams from memory. 3,000 digits on 2 cores took
# 0.47 s at 32 against 1.12 s at 512 (0.57 s at 64, 0.40 s at 8).
BATCH_SIZE = 32


class ClassifierFeatures(Embedder):
    """128-d features: the penultimate layer of the small CNN trained on the held-out validation
    images (as the DP generative-model literature does on MNIST). For evaluation only: it was
    trained on real held-out data, so it may never embed anything for the vote."""

    name = "classifier"
    needs_gpu = False  # a small CNN: a CPU takes it as fast
    cpu_only = True  # its forward pass is numpy (cnn_features)
    feature_dim = 128
    for_vote = False
    uses_validation_classifier = True
    headline_rank = 1
    label = "validation-CNN"
    label_detail = "a CNN trained on the validation images"

    def __init__(self, options: dict):
        super().__init__(options)
        # numpy, not torch: a job that only embeds need not import torch (cnn_features)
        self.weights = load_npz(options.get("weights"), required=WEIGHT_KEYS)
        self.batch_size = int(options.get("batch_size") or BATCH_SIZE)

    def embed(self, images: np.ndarray) -> np.ndarray:
        out = np.empty((len(images), self.feature_dim), dtype=np.float32)
        for begin in range(0, len(images), self.batch_size):
            batch = images[begin : begin + self.batch_size]
            out[begin : begin + len(batch)] = penultimate(self.weights, batch)
        return out

    @classmethod
    def evaluation_options(cls, exp) -> dict:
        return {"name": cls.name, "batch_size": BATCH_SIZE}  # the workflow adds the weights' path
