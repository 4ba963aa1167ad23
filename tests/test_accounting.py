import math

import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.accounting import (
    _discrete_pld,
    analytic_gaussian_delta,
    analytic_gaussian_sigma,
    calibrate_sigma,
    composed_epsilon,
    discrete_epsilon,
    pld_epsilon,
    privacy_record,
    rdp_epsilon,
    round_up_significant,
    sampler_delta,
    vote_dimensions,
    vote_sensitivity,
)
from private_evolution.discrete_gaussian import tv_bound_per_bin
from private_evolution.io import read_json
from private_evolution.stages.calibrate import calibrate, calibrate_with_sampler

DELTA = 1e-5


def significant_digits(value: float) -> int:
    return len(f"{value:.6g}".replace(".", "").lstrip("0").rstrip("0"))


def grid_step_below(sigma: float) -> float:
    return sigma - 10 ** (math.floor(math.log10(sigma)) - 2)


def exact_delta(sigma: float, epsilon: float, compositions: int) -> float:
    """Hockey-stick divergence of 1 or 2 discrete Gaussians (sensitivity 1) by direct
    summation over the integers: independent of dp-accounting."""
    support = np.arange(-math.ceil(14 * sigma) - 2, math.ceil(14 * sigma) + 3)
    log_p = -(support**2) / (2 * sigma**2)
    log_q = -((support - 1) ** 2) / (2 * sigma**2)
    p, q = np.exp(log_p - np.logaddexp.reduce(log_p)), np.exp(log_q - np.logaddexp.reduce(log_q))
    if compositions == 2:
        p, q = np.outer(p, p), np.outer(q, q)
    return float(np.maximum(q - math.exp(epsilon) * p, 0.0).sum())


@pytest.mark.parametrize("sigma,epsilon,compositions", [(0.7, 1.0, 1), (2.0, 0.5, 1), (3.3, 0.45, 2), (5.0, 0.2, 2)])
def test_discrete_accountant_agrees_with_direct_summation(sigma, epsilon, compositions):
    accountant = _discrete_pld(sigma).self_compose(compositions).get_delta_for_epsilon(epsilon)
    exact = exact_delta(sigma, epsilon, compositions)
    assert accountant >= exact * (1 - 1e-12)  # an upper bound ...
    assert accountant == pytest.approx(exact, rel=1e-6)  # ... and a tight one


@pytest.mark.parametrize("sigma,k,adjacency", [(20.0, 3, "add_remove"), (30.0, 3, "add_remove"), (50.0, 2, "replace_one")])
def test_discrete_epsilon_matches_the_continuous_gaussian_for_large_sigma(sigma, k, adjacency):
    # A discrete Gaussian of parameter sigma >= ~2 is nearly the continuous one (CKS20): one
    # vote is then one Gaussian of L2 sensitivity sqrt(dims), noise multiplier sigma / sqrt(dims).
    dims = vote_dimensions(k, adjacency)
    discrete = discrete_epsilon(sigma, DELTA, 5 * dims)
    assert discrete == pytest.approx(pld_epsilon(sigma / math.sqrt(dims), DELTA, 5), rel=1e-3)


def test_discrete_epsilon_is_monotone():
    sigmas = [1.0, 2.0, 5.0, 15.0, 40.0]
    by_sigma = [discrete_epsilon(s, DELTA, 6) for s in sigmas]
    assert all(a > b for a, b in zip(by_sigma, by_sigma[1:])), by_sigma
    by_compositions = [discrete_epsilon(5.0, DELTA, n) for n in (1, 3, 9, 27)]
    assert all(a < b for a, b in zip(by_compositions, by_compositions[1:])), by_compositions
    assert discrete_epsilon(5.0, 1e-3, 3) < discrete_epsilon(5.0, 1e-7, 3)
    assert discrete_epsilon(0.0, DELTA, 3) == math.inf


@pytest.mark.parametrize("iterations", [1, 5])
def test_sigma_falls_as_epsilon_grows(iterations):
    sigmas = [calibrate_sigma(eps, DELTA, iterations, 1) for eps in (0.5, 1, 2, 4, 8)]
    assert all(a > b for a, b in zip(sigmas, sigmas[1:])), sigmas


@pytest.mark.parametrize(
    "epsilon,iterations,k,adjacency",
    [(0.5, 5, 3, "add_remove"), (1.0, 1, 1, "add_remove"), (2.0, 10, 1, "replace_one"), (8.0, 5, 3, "add_remove")],
)
def test_calibrated_sigma_meets_the_target_and_one_grid_step_less_does_not(epsilon, iterations, k, adjacency):
    sigma = calibrate_sigma(epsilon, DELTA, iterations, k, adjacency)
    compositions = iterations * vote_dimensions(k, adjacency)
    achieved = discrete_epsilon(sigma, DELTA, compositions)
    assert 0.99 * epsilon <= achieved <= epsilon, (sigma, achieved)
    assert significant_digits(sigma) <= 3
    assert discrete_epsilon(grid_step_below(sigma), DELTA, compositions) > epsilon


@pytest.mark.parametrize("epsilon,iterations,k", [(1.0, 5, 3), (4.0, 20, 1)])
def test_discrete_sigma_is_close_to_the_continuous_closed_form(epsilon, iterations, k):
    exact = analytic_gaussian_sigma(epsilon, DELTA, iterations, math.sqrt(k))
    assert calibrate_sigma(epsilon, DELTA, iterations, k) == pytest.approx(exact, rel=0.01)


@pytest.mark.parametrize("epsilon,iterations", [(1.0, 1), (1.0, 10), (4.0, 20)])
def test_continuous_pld_agrees_with_analytic_gaussian_closed_form(epsilon, iterations):
    # T Gaussian mechanisms with sensitivity 1 are one Gaussian with sigma / sqrt(T) (Balle and Wang 2018).
    exact = analytic_gaussian_sigma(epsilon, DELTA, iterations)
    calibrated = calibrate_sigma(epsilon, DELTA, iterations, 1, epsilon_fn=pld_epsilon)
    assert exact <= calibrated <= exact * 1.01
    assert analytic_gaussian_delta(epsilon, exact / math.sqrt(iterations)) == pytest.approx(DELTA, rel=1e-6)


def test_pld_is_never_looser_than_rdp():
    sigma = calibrate_sigma(2.0, DELTA, 10, 1, epsilon_fn=pld_epsilon)
    assert pld_epsilon(sigma, DELTA, 10) <= rdp_epsilon(sigma, DELTA, 10)
    assert calibrate_sigma(2.0, DELTA, 10, 1, epsilon_fn=rdp_epsilon) >= sigma


def test_dimensions_and_sensitivity():
    assert vote_dimensions(3, "add_remove") == 3 and vote_dimensions(3, "replace_one") == 6
    assert vote_sensitivity(1) == 1.0 and vote_sensitivity(4) == 2.0
    for k in (1, 3):
        assert vote_sensitivity(k, "replace_one") ** 2 == pytest.approx(2 * vote_sensitivity(k, "add_remove") ** 2)
    with pytest.raises(PEError, match="unknown adjacency 'swap'"):
        vote_dimensions(1, "swap")
    with pytest.raises(ValueError):
        vote_dimensions(0, "add_remove")


def test_replace_one_costs_as_twice_the_votes():
    # both are 2 one-dimensional mechanisms per vote, so the same accountant question
    assert calibrate_sigma(2.0, DELTA, 5, 1, "replace_one") == calibrate_sigma(2.0, DELTA, 5, 2, "add_remove")
    assert calibrate_sigma(2.0, DELTA, 5, 1, "replace_one") > calibrate_sigma(2.0, DELTA, 5, 1, "add_remove")


def test_infinite_epsilon_means_no_noise():
    assert calibrate_sigma(math.inf, DELTA, 5, 3) == 0.0


@pytest.mark.parametrize("epsilon,delta,iterations", [(0.0, DELTA, 5), (-1.0, DELTA, 5), (1.0, 0.0, 5), (1.0, 1.0, 5), (1.0, DELTA, 0)])
def test_bad_arguments_raise(epsilon, delta, iterations):
    with pytest.raises(PEError):
        calibrate_sigma(epsilon, delta, iterations, 1)


def test_round_up_significant():
    assert round_up_significant(15.72) == 15.8
    assert round_up_significant(1.0) == 1.0
    assert round_up_significant(0.012341) == 0.0124
    assert round_up_significant(999.1) == 1000.0


def test_sampler_delta_is_the_tv_bound_scaled_and_negligible_at_the_default():
    assert sampler_delta(15.0, 1.0, 3000, 5) == pytest.approx(5 * 3000 * tv_bound_per_bin(15.0) * (1 + math.e))
    assert sampler_delta(0.0, math.inf, 3000, 5) == 0.0
    # the default config's worst case (epsilon 8, its sigma): far below delta
    sigma = calibrate_sigma(8.0, DELTA, 5, 3)
    assert 0 < sampler_delta(sigma, 8.0, 3000, 5) < 1e-4 * DELTA


def test_calibration_leaves_room_for_the_sampler():
    # the default: the sampler's delta is negligible, the accountant's sigma stands
    assert calibrate_with_sampler(1.0, DELTA, 5, 1, "add_remove", 3000) == calibrate_sigma(1.0, DELTA, 5, 1)
    # absurdly many bins: the sampler takes half of delta, so sigma must rise, and does just enough
    sigma = calibrate_sigma(1.0, DELTA, 5, 1)
    bins = int(DELTA / 2 / sampler_delta(sigma, 1.0, 1, 5))
    raised = calibrate_with_sampler(1.0, DELTA, 5, 1, "add_remove", bins)
    assert raised > sigma
    assert discrete_epsilon(raised, DELTA - sampler_delta(raised, 1.0, bins, 5), 5) <= 1.0
    below = grid_step_below(raised)
    assert discrete_epsilon(below, DELTA - sampler_delta(below, 1.0, bins, 5), 5) > 1.0


def test_calibrate_stage_writes_the_discrete_record(tmp_path):
    path = tmp_path / "privacy.json"
    cfg = {"delta": DELTA, "adjacency": "replace_one", "seed_mode": "secret", "seed": None}
    calibrate(cfg, 2.0, 5, 3, {"votes": 0.0, "sigmas": 0.0}, str(path), 3000)
    record = read_json(path)
    assert record["sigma"] == calibrate_sigma(2.0, DELTA, 5, 3, "replace_one")
    assert record["compositions"] == 30 and record["bins"] == 3000
    assert record["sampler_delta"] == pytest.approx(sampler_delta(record["sigma"], 2.0, 3000, 5))


def test_privacy_record_has_every_field_and_no_secret_seed():
    record = privacy_record(1.0, DELTA, 5, 2, 3.0, 8.0, "secret", 7, bins=3000)
    for key in ("epsilon", "delta", "iterations", "sigma", "k", "threshold", "accountant", "library", "noise_seed",
                "adjacency", "dp", "mechanism", "bins", "compositions", "sampler_delta", "noise_multiplier"):
        assert key in record
    assert record["sensitivity_l2"] == pytest.approx(math.sqrt(2))
    assert record["library"].startswith("dp-accounting ")
    assert "from_discrete_gaussian_mechanism" in record["accountant"]
    assert record["mechanism"].startswith("discrete Gaussian") and "SHAKE-256" in record["mechanism"]
    assert record["compositions"] == 10 and "2 (k) one-dimensional discrete Gaussians" in record["composition"]
    assert record["sampler_delta"] == sampler_delta(8.0, 1.0, 3000, 5)
    assert record["dp"] == "yes" and record["seed_mode"] == "secret"
    # the configured (public) seed never appears in a secret-seed record
    assert 7 not in record.values() and "public_seed" not in record and "private/noise_seed.json" in record["noise_seed"]


def test_privacy_record_says_not_dp_for_a_public_seed_or_no_noise():
    public = privacy_record(1.0, DELTA, 5, 1, 3.0, 8.0, "public", 7, bins=10)
    assert public["dp"] == "no: noise seed is public (privacy.seed_mode: public)" and public["public_seed"] == 7
    reference = privacy_record(math.inf, DELTA, 5, 1, 0.0, 0.0, "secret", 7, bins=10)
    assert reference["dp"].startswith("no: epsilon = inf") and reference["sampler_delta"] == 0.0


def test_replace_one_record():
    record = privacy_record(1.0, DELTA, 5, 1, 0.0, 8.0, "secret", 0, "replace_one", bins=10)
    assert record["neighbouring_relation"] == "replace one private sample by another"
    assert record["noise_multiplier"] == pytest.approx(8.0 / math.sqrt(2))
    assert record["compositions"] == 10 and "(2k)" in record["composition"]


def test_composed_epsilon_is_the_accountants_composition_of_every_vote():
    sigma_1, sigma_2 = calibrate_sigma(1.0, DELTA, 5, 1), calibrate_sigma(2.0, DELTA, 5, 1)
    draws = [{"sigma": sigma_1, "k": 1}] * 5 + [{"sigma": sigma_2, "k": 1}] * 5
    composed = composed_epsilon(draws, 2 * DELTA)
    # more than either run alone, at most the sum (basic composition) ...
    assert 2.0 < composed < 3.0
    # ... equal to composing the draws one by one in another order (grouping changes nothing) ...
    one_by_one = _discrete_pld(sigma_2)
    for draw in draws[-2::-1]:
        one_by_one = one_by_one.compose(_discrete_pld(draw["sigma"]))
    assert composed == pytest.approx(one_by_one.get_epsilon_for_delta(2 * DELTA), rel=1e-6)
    # ... and near one continuous Gaussian of the combined noise: 1/z^2 adds up over the 10 votes
    combined = (5 / sigma_1**2 + 5 / sigma_2**2) ** -0.5
    assert composed == pytest.approx(pld_epsilon(combined, 2 * DELTA, 1), rel=2e-3)
    assert composed_epsilon([{"sigma": 0.0, "k": 1}, *draws], DELTA) == math.inf
    assert composed_epsilon([], DELTA) == 0.0


def test_composed_epsilon_sees_every_draw_under_one_relation():
    sigma_a = calibrate_sigma(1.0, DELTA, 5, 3, "add_remove")
    sigma_r = calibrate_sigma(1.0, DELTA, 5, 3, "replace_one")
    run_a, run_r = [{"sigma": sigma_a, "k": 3}] * 5, [{"sigma": sigma_r, "k": 3}] * 5
    # each run under the relation it was calibrated for meets its target
    assert 0.99 <= composed_epsilon(run_a, DELTA, "add_remove") <= 1.0
    assert 0.99 <= composed_epsilon(run_r, DELTA, "replace_one") <= 1.0
    # an add/remove run seen under replace_one counts 2k dimensions per vote: it costs more
    assert composed_epsilon(run_a, DELTA, "replace_one") == pytest.approx(discrete_epsilon(sigma_a, DELTA, 30), rel=1e-9)
    assert composed_epsilon(run_a, DELTA, "replace_one") > 1.3
    # the mix under replace_one is what 5 * 6 dimensions at each sigma give
    mixed = composed_epsilon(run_a + run_r, DELTA, "replace_one")
    assert composed_epsilon(run_a, DELTA, "replace_one") < mixed < composed_epsilon(run_a, DELTA, "replace_one") + 1.0
    combined = (30 / sigma_a**2 + 30 / sigma_r**2) ** -0.5
    assert mixed == pytest.approx(pld_epsilon(combined, DELTA, 1), rel=2e-3)
