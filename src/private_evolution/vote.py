"""The DP nearest-neighbour vote: the only computation that touches private data.

Every private sample votes for its k nearest synthetic samples of its own class
(squared L2 distance in embedding space). Gaussian noise N(0, sigma^2) is added
to every count, the threshold H is subtracted and the result clipped at 0.
Classes partition the private set, so per-class votes compose in parallel and
the whole histogram has the L2 sensitivity of one class's histogram.
"""

from __future__ import annotations

import numpy as np

from . import PEError


def _squared_distances(queries: np.ndarray, candidates: np.ndarray, candidate_norms: np.ndarray) -> np.ndarray:
    query_norms = np.einsum("ij,ij->i", queries, queries)[:, None]
    return query_norms - 2.0 * (queries @ candidates.T) + candidate_norms[None, :]


def nearest_neighbor_counts(
    private_features: np.ndarray,
    private_labels: np.ndarray,
    synthetic_features: np.ndarray,
    synthetic_labels: np.ndarray,
    k: int = 1,
    batch_size: int = 4096,
) -> np.ndarray:
    """Un-noised vote counts, one per synthetic sample (int64).

    This array is private: it must only ever be passed to :func:`noisy_histogram`
    (or saved under ``results/*/private/``).
    """
    if private_features.shape[1] != synthetic_features.shape[1]:
        raise PEError(
            f"private embeddings are {private_features.shape[1]}-d but synthetic ones are "
            f"{synthetic_features.shape[1]}-d: both must come from the same embedder"
        )
    counts = np.zeros(len(synthetic_features), dtype=np.int64)
    for label in np.unique(private_labels):
        candidates = np.flatnonzero(synthetic_labels == label)
        if len(candidates) < k:
            raise PEError(
                f"class {label} has {len(candidates)} synthetic samples but each private sample "
                f"votes for k={k}: raise pe.num_samples or lower pe.k"
            )
        class_features = synthetic_features[candidates].astype(np.float32, copy=False)
        class_norms = np.einsum("ij,ij->i", class_features, class_features)
        voters = np.flatnonzero(private_labels == label)
        for begin in range(0, len(voters), batch_size):
            batch = private_features[voters[begin : begin + batch_size]].astype(np.float32, copy=False)
            distances = _squared_distances(batch, class_features, class_norms)
            if k == 1:
                nearest = distances.argmin(axis=1)[:, None]
            else:
                nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
            np.add.at(counts, candidates[nearest.ravel()], 1)
    return counts


def noisy_histogram(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """counts + N(0, sigma^2) per entry (float64). sigma = 0 adds nothing (epsilon = inf)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noisy = counts.astype(np.float64)
    if sigma > 0:
        noisy += rng.normal(0.0, sigma, size=counts.shape)
    return noisy


def apply_threshold(noisy_counts: np.ndarray, threshold: float) -> np.ndarray:
    """max(noisy - H, 0): post-processing of the noisy histogram, so free of privacy cost."""
    return np.maximum(noisy_counts - threshold, 0.0)
