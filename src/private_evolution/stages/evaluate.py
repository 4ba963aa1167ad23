"""Stages evaluate and evaluate_accuracy: metrics against held-out REAL data.

They read real data, so their numbers are NOT differentially private: they are
for reporting only (the metrics table and the report say so).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..classifier import downstream_accuracy
from ..contract import PRIVATE_FOLDER, AccuracyFields, MetricsFields
from ..embedders import embed_images, embedder_class, make_embedder
from ..io import load_embeddings, load_images, write_json
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
    write_metrics(output_path, synthetic, heldout_embeddings_path, embedder_name, metrics, options)


def evaluate_images(
    population_path: str, heldout_embeddings_path: str, embedder_cfg: dict, output_path: str,
    metrics: tuple[str, ...], options: dict | None, threads: int | None = None,
) -> None:
    """:func:`evaluate` of a population's images: embedded here, in memory, in the space of
    ``embedder_cfg`` (a space the validation CNN defines: measured once per population, so no
    other job reads its embedding)."""
    images, _ = load_images(population_path)
    synthetic = embed_in_memory(images, embedder_cfg, threads, private=PRIVATE_FOLDER in Path(output_path).parts)
    logger.info("embedded %d images in the %s space", len(images), embedder_cfg["name"])
    write_metrics(output_path, synthetic, heldout_embeddings_path, embedder_cfg["name"], metrics, options)


def embed_in_memory(images: np.ndarray, embedder_cfg: dict, threads: int | None, private: bool) -> np.ndarray:
    """The images' features, as the embed stage computes them (``private``: the images are private,
    see embedders.embed_images); no images: an empty array, without loading a network."""
    if len(images) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    return embed_images(make_embedder({**embedder_cfg, "threads": threads}), images, private=private)


def metric_values(
    synthetic: np.ndarray, real: np.ndarray, embedder_name: str, metrics: tuple[str, ...], options: dict | None = None
) -> dict[str, float]:
    """Each value of each metric between the two sets of features, named ``<value id>_<space>``."""
    space = embedder_class(embedder_name)
    values = {}
    for name in metrics:
        for prefix, value in metric_class(name)(options or {}).compute(synthetic, real, space).items():
            values[f"{prefix}_{embedder_name}"] = float(value)
    return values


def write_metrics(
    output_path: str,
    synthetic: np.ndarray,
    heldout_embeddings_path: str,
    embedder_name: str,
    metrics: tuple[str, ...],
    options: dict | None,
) -> None:
    """The metrics file (contract.MetricsFields) of a population's features against the held-out set's."""
    real, _ = load_embeddings(heldout_embeddings_path)
    values = metric_values(synthetic, real, embedder_name, metrics, options)
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
