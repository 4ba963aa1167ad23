"""The metric extension point: a measure between synthetic and held-out real features."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np


class FeatureMetric(abc.ABC):
    """Computed once per evaluated population and feature space (``evaluation.embedders``).

    ``values``: the ids of what it measures, each with its words and direction, as
    ``{id_prefix: (words, lower_is_better)}``; a value lands in the metrics table as
    ``<id_prefix>_<feature space>`` (``fd_pixels``, ``recall_classifier``). The metrics read
    held-out real data, so nothing they give is differentially private.
    """

    name: ClassVar[str] = ""
    values: ClassVar[dict[str, tuple[str, bool]]] = {}

    def __init__(self, options: dict):
        self.options = dict(options)

    @abc.abstractmethod
    def compute(self, synthetic: np.ndarray, real: np.ndarray, space) -> dict[str, float]:
        """``{id_prefix: value}``; ``space`` is the embedder class of the features."""
