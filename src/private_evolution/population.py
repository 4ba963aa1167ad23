"""The core type of PE: a population of synthetic samples (what APIs make and vary)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Population:
    """A synthetic population: uint8 images (N, H, W, C), class labels, and the
    API's per-sample state (e.g. a simulator's parameters), kept beside the pixels
    so that variation can work in the API's own space."""

    images: np.ndarray
    labels: np.ndarray
    state: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels shape {self.labels.shape} does not match {len(self.images)} images")
        for name, values in self.state.items():
            if len(values) != len(self.images):
                raise ValueError(f"state '{name}' has {len(values)} rows for {len(self.images)} images")

    def __len__(self) -> int:
        return len(self.images)

    def take(self, ids: np.ndarray) -> "Population":
        return Population(
            images=self.images[ids],
            labels=self.labels[ids],
            state={name: values[ids] for name, values in self.state.items()},
        )
