"""Selection: resample the population in proportion to the (noisy, thresholded) votes.

Class sizes are fixed by the configuration (public), not by the votes: each
class keeps its number of synthetic samples, so labels reveal nothing private.
"""

from __future__ import annotations

import numpy as np


def resample_ids(
    weights: np.ndarray, labels: np.ndarray, rng: np.random.Generator, out_labels: np.ndarray | None = None,
) -> tuple[np.ndarray, list]:
    """Ids drawn with replacement, per class, with probability proportional to ``weights``.

    Returns the ids and the classes whose weights were all zero; those are resampled
    uniformly, since with no surviving vote there is no evidence to prefer one candidate.
    The ids are aligned with ``out_labels`` (the labels of the population they make; public,
    from the config), by default the candidates' own ``labels``: the same size and order of classes.
    """
    out_labels = labels if out_labels is None else out_labels
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise ValueError("selection weights must be finite and >= 0")
    if not np.isin(out_labels, labels).all():
        raise ValueError("every class of the new population needs candidates of that class")
    ids = np.empty(len(out_labels), dtype=np.int64)
    uniform_classes = []
    for label in np.unique(out_labels):
        members = np.flatnonzero(labels == label)
        places = np.flatnonzero(out_labels == label)
        class_weights = weights[members]
        total = class_weights.sum()
        if total > 0:
            probabilities = class_weights / total
        else:
            probabilities = np.full(len(members), 1.0 / len(members))
            uniform_classes.append(label.item())
        ids[places] = rng.choice(members, size=len(places), replace=True, p=probabilities)
    return ids, uniform_classes
