"""Stages evaluate and evaluate_accuracy: metrics against held-out REAL data.

They read real data, so their numbers are NOT differentially private: they are
for reporting only (the metrics table and the report say so).
"""

from __future__ import annotations

import numpy as np

from ..classifier import downstream_accuracy
from ..contract import AccuracyFields, MetricsFields
from ..io import load_embeddings, load_images, write_json
from ..embedders import embedder_class
from ..metrics import metric_class
from . import logger


def evaluate(
    population_embeddings_path: str,
    heldout_embeddings_path: str,
    embedder_name: str,
    output_path: str,
    metrics: tuple[str, ...] = ("frechet_distance", "precision_recall"),
    options: dict | None = None,
) -> None:
    """Every metric of ``metrics`` between the population's and the held-out set's features."""
    synthetic, _ = load_embeddings(population_embeddings_path)
    real, _ = load_embeddings(heldout_embeddings_path)
    space = embedder_class(embedder_name)
    values = {}
    for name in metrics:
        for prefix, value in metric_class(name)(options or {}).compute(synthetic, real, space).items():
            values[f"{prefix}_{embedder_name}"] = float(value)
    write_json(output_path, {**values, MetricsFields.NUM_SYNTHETIC: len(synthetic), MetricsFields.NUM_REAL: len(real)})
    logger.info("%s", ", ".join(f"{key} = {value:.4f}" for key, value in values.items()))


def evaluate_accuracy(train_path: str, heldout_path: str, num_classes: int, epochs: int, seed: int, output_path: str) -> None:
    """Train the small CNN on ``train_path`` (synthetic, or the private set for the ceiling), test on held-out."""
    train_images, train_labels = load_images(train_path)
    test_images, test_labels = load_images(heldout_path)
    value = downstream_accuracy(
        train_images, train_labels.astype(np.int64), test_images, test_labels.astype(np.int64), num_classes, epochs, seed
    )
    record = {AccuracyFields.ACCURACY: value, AccuracyFields.NUM_TRAIN: len(train_images), AccuracyFields.NUM_TEST: len(test_images)}
    write_json(output_path, record)
    logger.info("downstream accuracy (trained on %s) = %.4f", train_path, value)
