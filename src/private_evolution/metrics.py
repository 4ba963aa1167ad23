"""Distribution metrics between synthetic and held-out real features (non-private evaluation)."""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of row features, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) < 2:
        raise ValueError("need at least 2 feature vectors for a covariance")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Tr((S_a S_b)^(1/2)) is the sum of square roots of the eigenvalues of S_a S_b,
    which are real and >= 0 for covariance matrices; numerical noise can make tiny
    ones negative or complex, so only the clipped real parts are used.
    """
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eigenvalues.real, 0.0, None)).sum()
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    return float(max(value, 0.0))
