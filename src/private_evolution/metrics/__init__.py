"""Metrics between synthetic and held-out real features: the base class, one module per
metric, and their registry (``evaluation.metrics`` names those computed).

A new metric is one module with a subclass of :class:`FeatureMetric`, its "module:Class" below (or,
from another package, an entry point in group ``pe_workflow.metrics``) and its row in
config/README.md.
"""

from __future__ import annotations

from ..registry import Registry
from .base import FeatureMetric


# Built-ins by "module:Class" (imported on first use; see registry.py): a stage's code digest
# covers the metrics it runs, not every metric named here.
REGISTRY = Registry(
    "metric",
    "pe_workflow.metrics",
    FeatureMetric,
    {
        "frechet_distance": "private_evolution.metrics.frechet_distance:FrechetDistance",
        "precision_recall": "private_evolution.metrics.precision_recall:PrecisionRecall",
    },
)


def metric_class(name: str) -> type[FeatureMetric]:
    return REGISTRY.get(name)


def value_words(metric_id: str) -> tuple[str, str, bool] | None:
    """(words, feature space, lower is better) of a metric id such as ``fd_pixels``, or None."""
    for name in REGISTRY.names():
        for prefix, (words, lower_is_better) in metric_class(name).values.items():
            if metric_id.startswith(prefix + "_"):
                return words, metric_id[len(prefix) + 1 :], lower_is_better
    return None


def distance_id(space) -> str:
    """The id of the Fréchet distance in an embedder's space (``fid_inception``, ``fd_pixels``)."""
    return f"{space.frechet_prefix}_{space.name}"


# The computations themselves are in metrics.measures (a module of each metric's name holds
# its class, so the package does not re-export functions of the same names).
__all__ = ["REGISTRY", "FeatureMetric", "distance_id", "metric_class", "value_words"]
