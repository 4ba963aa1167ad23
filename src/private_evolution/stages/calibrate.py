"""Stage calibrate: sigma for (epsilon, delta, T, k, adjacency) from the PLD accountant -> privacy.json."""

from __future__ import annotations

from ..accounting import calibrate_sigma, privacy_record, vote_sensitivity
from ..io import write_json
from . import logger


def vote_threshold(threshold: dict, sigma: float) -> float:
    """H = votes + sigmas * sigma: an absolute part and a part that scales with the noise."""
    return float(threshold["votes"] + threshold["sigmas"] * sigma)


def calibrate(privacy_cfg: dict, epsilon: float, iterations: int, k: int, threshold: dict, output_path: str) -> None:
    """privacy_cfg: delta, adjacency, seed_mode and seed (the seed is used only in public mode)."""
    adjacency = privacy_cfg["adjacency"]
    sigma = calibrate_sigma(epsilon, privacy_cfg["delta"], iterations, sensitivity=vote_sensitivity(k, adjacency))
    record = privacy_record(
        epsilon, privacy_cfg["delta"], iterations, k, vote_threshold(threshold, sigma), sigma,
        privacy_cfg["seed_mode"], privacy_cfg["seed"], adjacency,
    )
    write_json(output_path, record)
    logger.info(
        "epsilon=%s delta=%g T=%d k=%d (%s) -> sigma=%g; DP: %s",
        epsilon, privacy_cfg["delta"], iterations, k, adjacency, sigma, record["dp"],
    )
