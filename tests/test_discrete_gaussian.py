import math

import mpmath
import numpy as np
import pytest
from scipy.stats import chi2

from private_evolution import discrete_gaussian as dg
from private_evolution.vote import noisy_histogram

SEED = 0x0123456789ABCDEF0123456789ABCDEF
KEY = "test-draw"


def exact_pmf(sigma: float, support: int) -> tuple[list, mpmath.mpf]:
    """P[X = x] for x in [-support, support] of the untruncated discrete Gaussian (mpmath,
    independent of the module's decimal code), and the mass outside."""
    with mpmath.workdps(50):
        weight = lambda x: mpmath.exp(-mpmath.mpf(x) ** 2 / (2 * mpmath.mpf(sigma) ** 2))
        total = mpmath.nsum(weight, [-mpmath.inf, mpmath.inf])
        pmf = [weight(x) / total for x in range(-support, support + 1)]
        return pmf, 1 - mpmath.fsum(pmf)


def quantised_masses(sigma: float) -> tuple[int, list[int]]:
    b, thresholds = dg._table(sigma)
    edges = [0, *(int(t) for t in thresholds), 2**64]
    return b, [high - low for low, high in zip(edges, edges[1:])]


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5, 15.0, 40.7])
def test_table_is_symmetric_sums_to_2_64_and_each_mass_is_within_one_unit(sigma):
    b, masses = quantised_masses(sigma)
    assert len(masses) == 2 * b + 1 and masses == masses[::-1] and sum(masses) == 2**64
    assert min(masses) >= 0 and masses[0] > 0  # no empty bins kept at the ends
    pmf, _ = exact_pmf(sigma, b)
    with mpmath.workdps(50):  # 2^64 p needs ~20 digits before the point and some after
        errors = [abs(m - p * 2**64) for m, p in zip(masses, pmf)]
    assert max(errors) <= 1.0 + 1e-6


@pytest.mark.parametrize("sigma", [0.3, 1.0, 15.0, 40.7])
def test_tv_bound_covers_the_true_distance_to_the_exact_law(sigma):
    b, masses = quantised_masses(sigma)
    bound = dg.support_bound(sigma)
    pmf, outside = exact_pmf(sigma, bound)  # exact masses on [-B, B], and beyond
    sampled = [0] * (bound - b) + masses + [0] * (bound - b)
    with mpmath.workdps(50):
        tv = (mpmath.fsum(abs(mpmath.mpf(m) / 2**64 - p) for m, p in zip(sampled, pmf)) + outside) / 2
    assert 0 < tv <= dg.tv_bound_per_bin(sigma)
    assert dg.tail_mass_bound(sigma) < 1e-30
    assert outside <= dg.tail_mass_bound(sigma)


def test_tv_bound_is_about_1e_17_at_the_default_sigma():
    assert 5e-18 < dg.tv_bound_per_bin(15.0) < 2e-17
    assert dg.tv_bound_per_bin(0.0) == 0.0


def test_frequencies_match_the_exact_pmf_by_chi_square():
    sigma, size = 3.0, 1_000_000
    draws = dg.sample(sigma, size, SEED, KEY)
    pmf, _ = exact_pmf(sigma, 40)
    values = np.arange(-40, 41)
    expected = np.array([float(p) for p in pmf]) * size
    kept = expected >= 20  # chi-square needs populated cells; the rest pooled into one
    observed = np.array([(draws == v).sum() for v in values[kept]])
    statistic = (((observed - expected[kept]) ** 2) / expected[kept]).sum()
    rest_observed, rest_expected = size - observed.sum(), expected[~kept].sum()
    statistic += (rest_observed - rest_expected) ** 2 / rest_expected
    # A fixed seed and key: deterministic, so this cannot flake; 0.999 quantile of the null.
    assert statistic < chi2.ppf(0.999, kept.sum())


@pytest.mark.parametrize("sigma", [0.5, 15.0])
def test_mean_and_variance_match_the_exact_moments(sigma):
    size = 1_000_000
    draws = dg.sample(sigma, size, SEED, f"moments-{sigma}")
    pmf, _ = exact_pmf(sigma, dg.support_bound(sigma))
    support = range(-dg.support_bound(sigma), dg.support_bound(sigma) + 1)
    variance = float(mpmath.fsum(p * x * x for p, x in zip(pmf, support)))
    assert variance <= sigma**2  # below sigma^2 (CKS20); by ~exp(-2 pi^2 sigma^2), so equal in float at 15
    assert abs(draws.mean()) < 5 * math.sqrt(variance / size)
    assert draws.var() == pytest.approx(variance, rel=5 * math.sqrt(2 / size))
    if sigma == 0.5:  # sigma < 1: visibly not the continuous N(0, 0.25)
        assert draws.var() < 0.9 * sigma**2


def test_same_seed_and_key_give_the_same_noise_and_nothing_else_does():
    base = dg.sample(4.0, 10_000, SEED, KEY)
    assert base.dtype == np.int64 and base.shape == (10_000,)
    assert np.array_equal(base, dg.sample(4.0, 10_000, SEED, KEY))
    for other in (
        dg.sample(4.0, 10_000, SEED, KEY + "x"),
        dg.sample(4.0, 10_000, SEED + 1, KEY),
        dg.sample(4.0, 10_000, 0, KEY),
        dg.sample(4.0001, 10_000, SEED, KEY),  # another sigma: not a rescaling of the same words
        dg.sample(4.0, 10_001, SEED, KEY)[:10_000],  # another size: not a prefix of the same stream
    ):
        assert (other != base).mean() > 0.8


def test_zero_sigma_and_bad_arguments():
    assert np.array_equal(dg.sample(0.0, 5, SEED, KEY), np.zeros(5, dtype=np.int64))
    assert dg.sample(0.0, 5, SEED, KEY).dtype == np.int64
    assert dg.sample(3.0, 0, SEED, KEY).shape == (0,)
    for sigma in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            dg.sample(sigma, 5, SEED, KEY)
    for seed in (-1, 2**128):
        with pytest.raises(ValueError):
            dg.sample(1.0, 5, seed, KEY)
    with pytest.raises(TypeError):
        dg.sample(1.0, 5, SEED, b"bytes")


def test_noisy_histogram_adds_the_keyed_integer_noise():
    counts = np.array([3, 0, 5, 12], dtype=np.int64)
    noisy = noisy_histogram(counts, 2.0, SEED, KEY)
    assert noisy.dtype == np.int64
    assert np.array_equal(noisy - counts, dg.sample(2.0, 4, SEED, KEY))
    assert np.array_equal(noisy, noisy_histogram(counts, 2.0, SEED, KEY))  # a resume redraws it bit for bit
    assert counts.tolist() == [3, 0, 5, 12]  # the input is not modified
    clean = noisy_histogram(counts.astype(np.int32), 0.0, SEED, KEY)
    assert clean.dtype == np.int64 and clean.tolist() == [3, 0, 5, 12]
    with pytest.raises(ValueError):
        noisy_histogram(counts, -1.0, SEED, KEY)
