import math

import pytest

from private_evolution import PEError
from private_evolution.accounting import (
    analytic_gaussian_delta,
    analytic_gaussian_sigma,
    calibrate_sigma,
    pld_epsilon,
    privacy_record,
    composed_epsilon,
    rdp_epsilon,
    round_up_significant,
    vote_sensitivity,
)

DELTA = 1e-5


def significant_digits(value: float) -> int:
    return len(f"{value:.6g}".replace(".", "").lstrip("0").rstrip("0"))


@pytest.mark.parametrize("iterations", [1, 5])
def test_sigma_falls_as_epsilon_grows(iterations):
    sigmas = [calibrate_sigma(eps, DELTA, iterations) for eps in (0.5, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(sigmas, sigmas[1:])), sigmas


@pytest.mark.parametrize("epsilon,iterations", [(0.5, 5), (1.0, 1), (2.0, 10), (8.0, 5)])
def test_composition_at_returned_sigma_meets_target_within_one_percent(epsilon, iterations):
    sigma = calibrate_sigma(epsilon, DELTA, iterations)
    achieved = pld_epsilon(sigma, DELTA, iterations)
    assert achieved <= epsilon
    assert achieved >= 0.99 * epsilon, (sigma, achieved)
    assert significant_digits(sigma) <= 3


def test_returned_sigma_is_the_smallest_three_digit_value_meeting_target():
    sigma = calibrate_sigma(1.0, DELTA, 5)
    # One unit less in the third significant digit must break the target.
    unit = 10 ** (math.floor(math.log10(sigma)) - 2)
    assert pld_epsilon(sigma - unit, DELTA, 5) > 1.0


@pytest.mark.parametrize("epsilon,iterations", [(1.0, 1), (1.0, 10), (4.0, 20)])
def test_pld_agrees_with_analytic_gaussian_closed_form(epsilon, iterations):
    # T Gaussian mechanisms with sensitivity 1 are one Gaussian with sigma / sqrt(T) (Balle and Wang 2018).
    exact = analytic_gaussian_sigma(epsilon, DELTA, iterations)
    calibrated = calibrate_sigma(epsilon, DELTA, iterations)
    assert exact <= calibrated <= exact * 1.01
    assert analytic_gaussian_delta(epsilon, exact / math.sqrt(iterations)) == pytest.approx(DELTA, rel=1e-6)


def test_pld_is_never_looser_than_rdp():
    sigma = calibrate_sigma(2.0, DELTA, 10)
    assert pld_epsilon(sigma, DELTA, 10) <= rdp_epsilon(sigma, DELTA, 10)
    assert calibrate_sigma(2.0, DELTA, 10, epsilon_fn=rdp_epsilon) >= sigma


def test_sensitivity_scales_sigma():
    assert vote_sensitivity(1) == 1.0
    assert vote_sensitivity(4) == 2.0
    base = calibrate_sigma(2.0, DELTA, 3)
    assert calibrate_sigma(2.0, DELTA, 3, sensitivity=2.0) == pytest.approx(2 * base, rel=0.01)


def test_infinite_epsilon_means_no_noise():
    assert calibrate_sigma(math.inf, DELTA, 5) == 0.0


@pytest.mark.parametrize("epsilon,delta,iterations", [(0.0, DELTA, 5), (-1.0, DELTA, 5), (1.0, 0.0, 5), (1.0, 1.0, 5), (1.0, DELTA, 0)])
def test_bad_arguments_raise(epsilon, delta, iterations):
    with pytest.raises(PEError):
        calibrate_sigma(epsilon, delta, iterations)


def test_round_up_significant():
    assert round_up_significant(15.72) == 15.8
    assert round_up_significant(1.0) == 1.0
    assert round_up_significant(0.012341) == 0.0124
    assert round_up_significant(999.1) == 1000.0


def test_privacy_record_has_every_field_and_no_secret_seed():
    record = privacy_record(1.0, DELTA, 5, 2, 3.0, 8.0, "secret", 7)
    for key in ("epsilon", "delta", "iterations", "sigma", "k", "threshold", "accountant", "library", "noise_seed", "adjacency", "dp"):
        assert key in record
    assert record["sensitivity_l2"] == pytest.approx(math.sqrt(2))
    assert record["library"].startswith("dp-accounting ")
    assert record["dp"] == "yes" and record["seed_mode"] == "secret"
    # the configured (public) seed never appears in a secret-seed record
    assert 7 not in record.values() and "public_seed" not in record and "private/noise_seed.json" in record["noise_seed"]


def test_privacy_record_says_not_dp_for_a_public_seed_or_no_noise():
    public = privacy_record(1.0, DELTA, 5, 1, 3.0, 8.0, "public", 7)
    assert public["dp"] == "no: noise seed is public (privacy.seed_mode: public)" and public["public_seed"] == 7
    reference = privacy_record(math.inf, DELTA, 5, 1, 0.0, 0.0, "secret", 7)
    assert reference["dp"].startswith("no: epsilon = inf")


def test_replace_one_adjacency_doubles_the_squared_sensitivity():
    for k in (1, 3):
        assert vote_sensitivity(k, "replace_one") ** 2 == pytest.approx(2 * vote_sensitivity(k, "add_remove") ** 2)
    record = privacy_record(1.0, DELTA, 5, 1, 0.0, 8.0, "secret", 0, "replace_one")
    assert record["neighbouring_relation"] == "replace one private sample by another"
    assert record["noise_multiplier"] == pytest.approx(8.0 / math.sqrt(2))
    with pytest.raises(PEError, match="unknown adjacency 'swap'"):
        vote_sensitivity(1, "swap")


def test_composed_epsilon_is_the_accountants_composition_of_every_vote():
    sigma_1, sigma_2 = calibrate_sigma(1.0, DELTA, 5), calibrate_sigma(2.0, DELTA, 5)
    runs = [{"noise_multiplier": sigma_1, "iterations": 5}, {"noise_multiplier": sigma_2, "iterations": 5}]
    composed = composed_epsilon(runs, 2 * DELTA)
    # more than either run alone, at most the sum (basic composition) ...
    assert 2.0 < composed < 3.0
    # ... and equal to one Gaussian of the combined noise: 1/z^2 adds up over the 10 votes
    combined = (5 / sigma_1**2 + 5 / sigma_2**2) ** -0.5
    assert composed == pytest.approx(pld_epsilon(combined, 2 * DELTA, 1), rel=2e-3)
    assert composed_epsilon([{"noise_multiplier": 0.0, "iterations": 1}], DELTA) == math.inf
