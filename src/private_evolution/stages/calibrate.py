"""Stage calibrate: sigma for (epsilon, delta, T, k, adjacency, bins) from the PLD accountant -> privacy.json."""

from __future__ import annotations

import math

from ..accounting import (
    calibrate_sigma, discrete_epsilon, next_grid_sigma, privacy_record, sampler_delta, vote_dimensions,
)
from ..io import write_json
from . import logger


def vote_threshold(threshold: dict, sigma: float) -> float:
    """H = votes + sigmas * sigma: an absolute part and a part that scales with the noise."""
    return float(threshold["votes"] + threshold["sigmas"] * sigma)


def calibrate_with_sampler(epsilon: float, delta: float, iterations: int, k: int, adjacency: str, bins: int) -> float:
    """Smallest grid sigma whose accountant delta plus the sampler's delta is at most ``delta``.

    Calibrate at ``delta`` first, then check at ``delta - sampler_delta`` and step up the grid
    until it holds. The sampler's part is ~1e-17 per bin and vote, far below any configured
    delta, so the first sigma almost always stands; the loop makes it a guarantee rather
    than an estimate (sampler_delta grows with sigma, hence the re-check after each step).
    """
    sigma = calibrate_sigma(epsilon, delta, iterations, k, adjacency)
    if sigma == 0:
        return sigma
    compositions = iterations * vote_dimensions(k, adjacency)
    while True:
        accountant_delta = delta - sampler_delta(sigma, epsilon, bins, iterations)
        if accountant_delta > 0 and discrete_epsilon(sigma, accountant_delta, compositions) <= epsilon:
            return sigma
        if math.isinf(sampler_delta(sigma, epsilon, bins, iterations)):
            raise ValueError(f"epsilon={epsilon} is too large for the sampler's delta to be finite")
        sigma = next_grid_sigma(sigma)


def calibrate(
    privacy_cfg: dict, epsilon: float, iterations: int, k: int, threshold: dict, output_path: str, bins: int
) -> None:
    """privacy_cfg: delta, adjacency, seed_mode and seed (the seed is used only in public mode).
    ``bins``: histogram bins per vote (pe.num_samples), for the sampler's share of delta."""
    adjacency, delta = privacy_cfg["adjacency"], privacy_cfg["delta"]
    sigma = calibrate_with_sampler(epsilon, delta, iterations, k, adjacency, bins)
    record = privacy_record(
        epsilon, delta, iterations, k, vote_threshold(threshold, sigma), sigma,
        privacy_cfg["seed_mode"], privacy_cfg["seed"], adjacency, bins=bins,
    )
    write_json(output_path, record)
    logger.info(
        "epsilon=%s delta=%g (sampler %.3g) T=%d k=%d (%s) bins=%d -> sigma=%g; DP: %s",
        epsilon, delta, record["sampler_delta"], iterations, k, adjacency, bins, sigma, record["dp"],
    )
