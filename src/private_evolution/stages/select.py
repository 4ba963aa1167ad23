"""Stage select: resample ids in proportion to the noisy, thresholded votes."""

from __future__ import annotations

from ..contract import VoteArrays
from ..io import load_votes, save_selection
from ..seeding import epsilon_key, stream
from ..select import resample_ids
from . import logger


def select(votes_path: str, iteration: int, epsilon: float, seed: int, output_path: str) -> None:
    votes = load_votes(votes_path)
    ids, uniform = resample_ids(votes[VoteArrays.WEIGHTS], votes[VoteArrays.LABELS], stream(seed, "select", epsilon_key(epsilon), iteration))
    if uniform:
        logger.warning("classes %s had no candidate above the threshold: resampled uniformly", uniform)
    save_selection(output_path, ids)
