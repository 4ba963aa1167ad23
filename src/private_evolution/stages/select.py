"""Stage select: resample ids in proportion to the noisy, thresholded votes."""

from __future__ import annotations

from ..apis import balanced_labels
from ..contract import VoteArrays
from ..io import load_votes, save_selection
from ..seeding import epsilon_key, stream
from ..select import resample_ids
from . import logger


def select(
    votes_path: str, iteration: int, epsilon: float, seed: int, output_path: str,
    size: int | None = None, num_classes: int | None = None,
) -> None:
    """``size`` (with ``num_classes``): draw that many ids, in balanced classes, instead of one per
    candidate: the last iteration's pe.final_samples. Either way only the public noisy weights
    are read, so the size costs no privacy."""
    votes = load_votes(votes_path)
    labels = votes[VoteArrays.LABELS]
    out_labels = None if size is None or size == len(labels) else balanced_labels(size, num_classes)
    ids, uniform = resample_ids(votes[VoteArrays.WEIGHTS], labels, stream(seed, "select", epsilon_key(epsilon), iteration), out_labels)
    if uniform:
        logger.warning("classes %s had no candidate above the threshold: resampled uniformly", uniform)
    save_selection(output_path, ids)
