"""Noise calibration for the PE vote, done by dp-accounting's PLD accountant.

The vote of one PE iteration is a Gaussian mechanism on a histogram with L2
sensitivity ``vote_sensitivity(k)``; T iterations are its T-fold adaptive
composition. We search the noise standard deviation sigma for which the PLD
accountant reports exactly the target (epsilon, delta), and round it *up* to
three significant digits so that the recorded sigma is never below what the
accountant asked for.
"""

from __future__ import annotations

import math
from importlib import metadata

from . import PEError

SIGNIFICANT_DIGITS = 3


ADJACENCIES = ("add_remove", "replace_one")
ADJACENCY_TEXT = {
    "add_remove": "add or remove one private sample",
    "replace_one": "replace one private sample by another",
}


def vote_sensitivity(k: int, adjacency: str = "add_remove") -> float:
    """L2 sensitivity of the k-nearest-neighbour vote histogram.

    ``add_remove`` (the PE paper's relation): the added or removed sample casts one
    vote for each of k distinct synthetic samples, so k counts change by exactly 1:
    the L2 norm of the change is sqrt(k). ``replace_one``: the old sample's k votes
    go and the new one's k votes come, up to 2k counts change by 1: sqrt(2k) (the
    squared sensitivity doubles).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if adjacency not in ADJACENCIES:
        raise PEError(f"unknown adjacency '{adjacency}'; known: {list(ADJACENCIES)}")
    return math.sqrt(k if adjacency == "add_remove" else 2 * k)


def pld_epsilon(noise_multiplier: float, delta: float, iterations: int) -> float:
    """Epsilon at ``delta`` of ``iterations`` compositions of a Gaussian mechanism
    with noise standard deviation ``noise_multiplier`` times its sensitivity."""
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    accountant = pld_privacy_accountant.PLDAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), iterations)
    return float(accountant.get_epsilon(delta))


def rdp_epsilon(noise_multiplier: float, delta: float, iterations: int) -> float:
    """The same as :func:`pld_epsilon` with the (looser) RDP accountant; for cross-checks."""
    import dp_accounting
    from dp_accounting.rdp import rdp_privacy_accountant

    accountant = rdp_privacy_accountant.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), iterations)
    return float(accountant.get_epsilon(delta))


# Candidate sigmas are the numbers with 3 significant digits, indexed in order:
# index i stands for (100 + i % 900) * 10 ** (i // 900 + _GRID_LOWEST_EXPONENT).
_GRID_PER_DECADE = 900
_GRID_LOWEST_EXPONENT = -8


def _grid_value(index: int) -> float:
    exponent = index // _GRID_PER_DECADE + _GRID_LOWEST_EXPONENT
    mantissa = 100 + index % _GRID_PER_DECADE
    return round(mantissa * 10.0**exponent, max(0, -exponent))


def _grid_index_at_or_above(value: float) -> int:
    exponent = math.floor(math.log10(value)) - (SIGNIFICANT_DIGITS - 1)
    mantissa = math.ceil(value / 10.0**exponent - 1e-9)  # slack: values on the grid stay put
    if mantissa == 1000:
        exponent, mantissa = exponent + 1, 100
    return (exponent - _GRID_LOWEST_EXPONENT) * _GRID_PER_DECADE + (mantissa - 100)


def round_up_significant(value: float) -> float:
    """Smallest number with 3 significant digits that is >= value."""
    if value <= 0:
        raise ValueError(f"value must be positive, got {value}")
    return _grid_value(_grid_index_at_or_above(value))


def calibrate_sigma(
    epsilon: float,
    delta: float,
    iterations: int,
    sensitivity: float = 1.0,
    epsilon_fn=pld_epsilon,
) -> float:
    """Smallest sigma with 3 significant digits for which ``epsilon_fn`` (by default
    the PLD accountant) certifies (epsilon, delta)-DP for ``iterations`` Gaussian
    votes of the given L2 ``sensitivity``. ``epsilon = inf`` returns 0 (no noise).

    The search is on the 3-digit grid itself. It starts from the exact single-Gaussian
    closed form, which only saves accountant calls: the accountant decides every step,
    and the answer is the grid point where it switches from failing to meeting the target.
    """
    if math.isinf(epsilon):
        return 0.0
    if not epsilon > 0:
        raise PEError(f"epsilon must be > 0 (or inf for no privacy), got {epsilon}")
    if not 0 < delta < 1:
        raise PEError(f"delta must be in (0, 1), got {delta}")
    if iterations < 1:
        raise PEError(f"iterations must be >= 1, got {iterations}")

    def satisfies(index: int) -> bool:
        return epsilon_fn(_grid_value(index) / sensitivity, delta, iterations) <= epsilon

    start = _grid_index_at_or_above(analytic_gaussian_sigma(epsilon, delta, iterations, sensitivity))
    # Gallop away from the start until the accountant's answer flips, then bisect.
    step = 1
    if satisfies(start):
        passing, failing = start, start - step
        while failing > 0 and satisfies(failing):
            passing, step = failing, step * 2
            failing = passing - step
        failing = max(failing, 0)
    else:
        failing, passing = start, start + step
        while not satisfies(passing):
            failing, step = passing, step * 2
            passing = failing + step
    while passing - failing > 1:
        middle = (passing + failing) // 2
        if satisfies(middle):
            passing = middle
        else:
            failing = middle
    return _grid_value(passing)


def analytic_gaussian_delta(epsilon: float, sigma: float, sensitivity: float = 1.0) -> float:
    """Exact delta of one Gaussian mechanism at ``epsilon`` (Balle and Wang, 2018, Thm. 8).

    Used only as an independent cross-check of the accountant: T compositions of
    a Gaussian mechanism are one Gaussian mechanism with sigma / sqrt(T).
    """
    from scipy.stats import norm

    ratio = sensitivity / sigma
    return float(norm.cdf(ratio / 2 - epsilon / ratio) - math.exp(epsilon) * norm.cdf(-ratio / 2 - epsilon / ratio))


def analytic_gaussian_sigma(epsilon: float, delta: float, iterations: int, sensitivity: float = 1.0) -> float:
    """Smallest sigma meeting (epsilon, delta) for ``iterations`` compositions, by the exact closed form."""
    from scipy.optimize import brentq

    effective = sensitivity * math.sqrt(iterations)
    return float(
        brentq(lambda s: analytic_gaussian_delta(epsilon, s, effective) - delta, 1e-3 * effective, 1e4 * effective, xtol=1e-12)
    )


def dp_accounting_version() -> str:
    try:
        return metadata.version("dp-accounting")
    except metadata.PackageNotFoundError:  # pragma: no cover - the dependency is required
        return "unknown"


def dp_status(epsilon: float, seed_mode: str) -> str:
    """What a run's outputs may be called: 'yes', or 'no: why'."""
    if math.isinf(epsilon):
        return "no: epsilon = inf (no noise, a non-private reference)"
    if seed_mode == "public":
        return "no: noise seed is public (privacy.seed_mode: public)"
    return "yes"


def privacy_record(
    epsilon: float,
    delta: float,
    iterations: int,
    k: int,
    threshold: float,
    sigma: float,
    seed_mode: str,
    public_seed: int,
    adjacency: str = "add_remove",
) -> dict:
    """What ``privacy.json`` holds: everything needed to audit the guarantee, and no secret.

    With the (default) secret seed the record says where the seed is kept, never its value.
    """
    sensitivity = vote_sensitivity(k, adjacency)
    record = {
        "epsilon": "inf" if math.isinf(epsilon) else epsilon,
        "delta": delta,
        "iterations": iterations,
        "k": k,
        "sensitivity_l2": sensitivity,
        "sigma": sigma,
        "noise_multiplier": sigma / sensitivity,
        "threshold": threshold,
        "accountant": "dp_accounting.pld.PLDAccountant" if not math.isinf(epsilon) else "none (epsilon = inf: no noise)",
        "composition": f"{iterations}-fold composition of the Gaussian mechanism",
        "adjacency": adjacency,
        "neighbouring_relation": ADJACENCY_TEXT[adjacency],
        "library": f"dp-accounting {dp_accounting_version()}",
        "seed_mode": seed_mode,
        "noise_seed": (
            "secret: drawn from the operating system, kept in results/<exp>/private/noise_seed.json, never published"
            if seed_mode == "secret"
            else f"public: {public_seed} (anyone can regenerate and remove the noise)"
        ),
        "dp": dp_status(epsilon, seed_mode),
    }
    if seed_mode == "public":
        record["public_seed"] = public_seed
    return record


def composed_epsilon(runs: list[dict], delta: float) -> float:
    """Epsilon at ``delta`` of running every run, each a T-fold Gaussian composition.

    ``runs``: dicts with ``noise_multiplier`` (sigma / sensitivity) and ``iterations``.
    Releases made from the same private data compose: this is their joint cost.
    """
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    if any(run["noise_multiplier"] == 0 for run in runs):
        return math.inf
    accountant = pld_privacy_accountant.PLDAccountant()
    for run in runs:
        accountant.compose(dp_accounting.GaussianDpEvent(run["noise_multiplier"]), int(run["iterations"]))
    return float(accountant.get_epsilon(delta))
