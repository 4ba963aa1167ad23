"""The precision_recall metric: improved precision and recall with k-NN manifolds (evaluation.k_nearest)."""

from __future__ import annotations

from .base import FeatureMetric
from .measures import precision_recall


class PrecisionRecall(FeatureMetric):
    name = "precision_recall"
    values = {"precision": ("precision", False), "recall": ("recall", False)}

    def compute(self, synthetic, real, space) -> dict[str, float]:
        precision, recall = precision_recall(real, synthetic, k=int(self.options.get("k_nearest", 3)))
        return {"precision": precision, "recall": recall}
