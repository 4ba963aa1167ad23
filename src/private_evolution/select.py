"""Selection: resample the population in proportion to the (noisy, thresholded) votes.

Class sizes are fixed by the configuration (public), not by the votes: each
class keeps its number of synthetic samples, so labels reveal nothing private.
"""

from __future__ import annotations

import numpy as np


def resample_ids(weights: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Ids drawn with replacement, per class, with probability proportional to ``weights``.

    Returns the ids (aligned with the input order of classes) and the classes whose
    weights were all zero; those are resampled uniformly, since with no surviving
    vote there is no evidence to prefer one candidate.
    """
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("selection weights must be finite and >= 0")
    ids = np.empty(len(labels), dtype=np.int64)
    uniform_classes = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        class_weights = weights[members]
        total = class_weights.sum()
        if total > 0:
            probabilities = class_weights / total
        else:
            probabilities = np.full(len(members), 1.0 / len(members))
            uniform_classes.append(label.item())
        ids[members] = rng.choice(members, size=len(members), replace=True, p=probabilities)
    return ids, uniform_classes
