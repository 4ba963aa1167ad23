"""Discrete Gaussian noise on the integers from a keyed SHAKE-256 stream.

The discrete Gaussian N_Z(0, sigma^2) has P[X = x] proportional to exp(-x^2 / (2 sigma^2))
for every integer x (Canonne, Kamath and Steinke, 2020). Adding it to an integer
histogram of L1 (per-bin) sensitivity 1 gives the privacy that
``dp_accounting``'s ``from_discrete_gaussian_mechanism`` computes, with no floating
point arithmetic on the released values (floating-point Gaussian samplers leak
through the low-order bits of their output; Mironov 2012 showed it for Laplace).

Sampling is inverse-CDF table lookup: the CDF of N_Z(0, sigma^2), computed with
60-digit decimal arithmetic on the support [-B, B] (B = ceil(13 sigma) + 1), is
rounded to multiples of 2^-64 and each uniform 64-bit word is located in it by
binary search. The sampled law differs from the exact discrete Gaussian by at
most :func:`tv_bound_per_bin` in total variation (about 1e-17 at sigma = 15);
:func:`private_evolution.accounting.sampler_delta` adds that to delta.

The 64-bit words are SHAKE-256 output over a domain-separation prefix, the
128-bit secret seed, sigma, the number of bins and the draw key. The same
(seed, key, sigma, size) regenerates the same noise bit for bit (a resumed job);
anything else is an independent stream, as long as SHAKE-256 is a good PRF
(a computational assumption: without the seed, the words look uniform).
"""

from __future__ import annotations

import decimal
import functools
import hashlib
import math
import struct

import numpy as np

_DOMAIN = b"private_evolution/discrete_gaussian/v1\x00"
_WORD_BYTES = 8
_TWO_64 = 1 << 64
_PRECISION_DIGITS = 60  # the CDF is needed to ~1e-20 absolute; 60 digits leave ~40 spare
_TAIL_SIGMAS = 13  # exp(-13^2 / 2) ~ 2e-37: the tail beyond B is far below 2^-64


def support_bound(sigma: float) -> int:
    """B: the table covers [-B, B]; the mass outside is below 1e-30 (see :func:`tail_mass_bound`)."""
    return math.ceil(_TAIL_SIGMAS * sigma) + 1


def tail_mass_bound(sigma: float) -> float:
    """An upper bound on P[|X| > B] for X ~ N_Z(0, sigma^2) and B = support_bound(sigma).

    With f(t) = exp(-t^2 / (2 sigma^2)), decreasing on [0, inf):
    sum_{x > B} f(x) <= int_B^inf f <= (sigma^2 / B) f(B) (the Gaussian Mills ratio), and the
    normaliser Z = sum_x f(x) >= max(1, sigma sqrt(2 pi) - 1) (the x = 0 term; and
    sum_{x >= 0} f(x) >= int_0^inf f). Both tails: 2 (sigma^2 / B) f(B) / Z.
    """
    if sigma == 0:
        return 0.0
    bound = support_bound(sigma)
    normaliser = max(1.0, sigma * math.sqrt(2 * math.pi) - 1.0)
    return 2.0 * sigma**2 / bound * math.exp(-(bound**2) / (2.0 * sigma**2)) / normaliser


def tv_bound_per_bin(sigma: float) -> float:
    """An upper bound on the total-variation distance between one :func:`sample` draw
    (with ideal uniform words) and the exact N_Z(0, sigma^2).

    Quantisation: each of the 2B interior CDF points is rounded to the nearest multiple
    of 2^-64 (error <= 2^-65 plus ~1e-60 from the 60-digit arithmetic) and each one
    bounds two bins, so the sum over the 2B + 1 bins of |sampled - truncated PMF| is
    below (2B + 1) 2^-64, a TV below (2B + 1) 2^-65. Truncation to [-B, B] is a further
    TV of the tail mass. sigma = 0 samples exactly 0: no error.
    """
    _check_sigma(sigma)
    if sigma == 0:
        return 0.0
    quantisation = (2 * support_bound(sigma) + 1) * 2.0**-65
    return (quantisation + tail_mass_bound(sigma)) * (1 + 1e-9)  # slack for float rounding


def _check_sigma(sigma: float) -> None:
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be finite and >= 0, got {sigma}")


@functools.lru_cache(maxsize=64)
def _table(sigma: float) -> tuple[int, np.ndarray]:
    """(b, thresholds): thresholds[i] = round(2^64 P[X <= i - b]) for i = 0 .. 2b - 1.

    b <= B is the largest x whose quantised mass is non-zero, so every threshold fits in
    a uint64 (P[X <= b] = 1 is implicit). Only the left half is rounded; the right half is
    2^64 minus it, so the quantised table is exactly symmetric and sums to exactly 2^64.
    """
    bound = support_bound(sigma)
    with decimal.localcontext() as ctx:
        ctx.prec = _PRECISION_DIGITS
        two_sigma_sq = 2 * decimal.Decimal(sigma) ** 2  # Decimal(float) is exact
        weights = [(-decimal.Decimal(x * x) / two_sigma_sq).exp() for x in range(bound + 1)]
        scale = _TWO_64 / (weights[0] + 2 * sum(weights[1:]))
        left: list[int] = []  # round(2^64 P[X <= -x]) for x = B, B - 1, ..., 1
        cumulative = decimal.Decimal(0)
        for x in range(bound, 0, -1):
            cumulative += weights[x]
            left.append(int((cumulative * scale).to_integral_value(decimal.ROUND_HALF_EVEN)))
    left = [c for c in left if c > 0]  # leading zeros: bins of no quantised mass
    b = len(left)
    right = [_TWO_64 - c for c in reversed(left)]  # P[X <= x] = 1 - P[X <= -x - 1]
    return b, np.array(left + right, dtype=np.uint64)


def _words(size: int, seed: int, key: str, sigma: float) -> np.ndarray:
    """``size`` uniform uint64 words from SHAKE-256(prefix || seed || sigma || size || key)."""
    xof = hashlib.shake_256(_DOMAIN)
    xof.update(seed.to_bytes(16, "little"))
    xof.update(struct.pack("<dQ", sigma, size))  # fixed width, so the key can end the input
    xof.update(key.encode("utf-8"))
    return np.frombuffer(xof.digest(size * _WORD_BYTES), dtype="<u8")


def sample(sigma: float, size: int, seed: int, key: str) -> np.ndarray:
    """``size`` independent draws of N_Z(0, sigma^2) (int64), a deterministic function of
    (sigma, size, seed, key): the 128-bit secret ``seed`` (0 <= seed < 2**128) and the
    draw ``key`` (a str naming this draw, e.g. a hex digest). sigma = 0 returns zeros.
    """
    _check_sigma(sigma)
    if not isinstance(seed, int) or not 0 <= seed < 1 << 128:
        raise ValueError("seed must be an int in [0, 2**128)")
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if sigma == 0 or size == 0:
        return np.zeros(size, dtype=np.int64)
    b, thresholds = _table(float(sigma))
    # side="right": the word w falls in bin x when P[X <= x - 1] <= w / 2^64 < P[X <= x]
    index = np.searchsorted(thresholds, _words(size, seed, key, float(sigma)), side="right")
    return index.astype(np.int64) - b
