"""Stages evaluate and evaluate_accuracy: metrics against held-out REAL data.

They read real data, so their numbers are NOT differentially private: they are
for reporting only (the metrics table and the report say so).
"""

from __future__ import annotations

import numpy as np

from ..classifier import downstream_accuracy
from ..io import load_embeddings, load_npz, write_json
from ..metrics import distance_name, feature_statistics, frechet_distance, precision_recall
from . import logger


def evaluate(
    population_embeddings_path: str, heldout_embeddings_path: str, embedder_name: str, output_path: str, k: int = 3
) -> None:
    synthetic, _ = load_embeddings(population_embeddings_path)
    real, _ = load_embeddings(heldout_embeddings_path)
    distance = frechet_distance(*feature_statistics(synthetic), *feature_statistics(real))
    precision, recall = precision_recall(real, synthetic, k=k)
    write_json(
        output_path,
        {
            distance_name(embedder_name): distance,
            f"precision_{embedder_name}": precision,
            f"recall_{embedder_name}": recall,
            "num_synthetic": len(synthetic),
            "num_real": len(real),
        },
    )
    logger.info("%s = %.4f, precision = %.3f, recall = %.3f", distance_name(embedder_name), distance, precision, recall)


def evaluate_accuracy(train_path: str, heldout_path: str, num_classes: int, epochs: int, seed: int, output_path: str) -> None:
    """Train the small CNN on ``train_path`` (synthetic, or the private set for the ceiling), test on held-out."""
    train = load_npz(train_path, required=("images", "labels"))
    test = load_npz(heldout_path, required=("images", "labels"))
    value = downstream_accuracy(
        train["images"], train["labels"].astype(np.int64), test["images"], test["labels"].astype(np.int64), num_classes, epochs, seed
    )
    write_json(output_path, {"accuracy_cnn": value, "num_train": len(train["images"]), "num_test": len(test["images"])})
    logger.info("downstream accuracy (trained on %s) = %.4f", train_path, value)
