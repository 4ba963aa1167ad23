"""Stage select: resample ids in proportion to the noisy, thresholded votes."""

from __future__ import annotations

from ..io import load_npz, save_npz
from ..seeding import epsilon_key, stream
from ..select import resample_ids
from . import logger


def select(votes_path: str, iteration: int, epsilon: float, seed: int, output_path: str) -> None:
    votes = load_npz(votes_path, required=("weights", "labels"))
    ids, uniform = resample_ids(votes["weights"], votes["labels"], stream(seed, "select", epsilon_key(epsilon), iteration))
    if uniform:
        logger.warning("classes %s had no candidate above the threshold: resampled uniformly", uniform)
    save_npz(output_path, parent_ids=ids)
