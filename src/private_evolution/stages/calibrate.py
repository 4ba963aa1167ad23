"""Stage calibrate: sigma for (epsilon, delta, T, k) from the PLD accountant -> privacy.json."""

from __future__ import annotations

from ..accounting import calibrate_sigma, privacy_record, vote_sensitivity
from ..io import write_json
from . import logger


def vote_threshold(threshold: dict, sigma: float) -> float:
    """H = votes + sigmas * sigma: an absolute part and a part that scales with the noise."""
    return float(threshold["votes"] + threshold["sigmas"] * sigma)


def calibrate(privacy_cfg: dict, epsilon: float, iterations: int, k: int, threshold: dict, output_path: str) -> None:
    sigma = calibrate_sigma(epsilon, privacy_cfg["delta"], iterations, sensitivity=vote_sensitivity(k))
    seed = "os-entropy (not recorded)" if privacy_cfg["seed_from_os"] else privacy_cfg["seed"]
    record = privacy_record(epsilon, privacy_cfg["delta"], iterations, k, vote_threshold(threshold, sigma), sigma, seed)
    write_json(output_path, record)
    logger.info("epsilon=%s delta=%g T=%d k=%d -> sigma=%g", epsilon, privacy_cfg["delta"], iterations, k, sigma)
