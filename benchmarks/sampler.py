"""Speed of the discrete Gaussian sampler and of the discrete calibration -> benchmarks/SAMPLER.md.

python benchmarks/sampler.py [--repeats 7]

Times discrete_gaussian.sample at 10^4, 10^5 and 10^6 bins (median of the repeats, after
one warm-up call that builds the sigma's table), and, at the default config's (epsilon,
delta, T, k), one calibration by the discrete accountant next to the continuous one.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from pathlib import Path

import yaml

from private_evolution import discrete_gaussian
from private_evolution.accounting import _discrete_pld, calibrate_sigma, discrete_epsilon, pld_epsilon, vote_dimensions

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10**4, 10**5, 10**6)
SIGMAS = (2.33, 14.5, 27.3)  # the default config's sigmas at epsilon 8, 1 and 0.5


def seconds(function, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    lines = [
        "# Discrete Gaussian sampler",
        "",
        f"Written by `python benchmarks/sampler.py --repeats {args.repeats}` on {os.cpu_count()} cores "
        f"({cpu_name()}), CPU only, Python {platform.python_version()}. Medians of {args.repeats} runs.",
        "",
        "## Sampling (SHAKE-256 words, inverse-CDF table lookup)",
        "",
        "| sigma | table build (ms, once per sigma) | " + " | ".join(f"{n:,} bins (ms)" for n in SIZES) + " |",
        "|---|---|" + "---|" * len(SIZES),
    ]
    for sigma in SIGMAS:
        discrete_gaussian._table.cache_clear()
        build = seconds(lambda: discrete_gaussian._table(sigma), 1)[0]
        cells = []
        for size in SIZES:
            times = seconds(lambda: discrete_gaussian.sample(sigma, size, 1, f"bench-{size}"), args.repeats)
            cells.append(f"{statistics.median(times) * 1e3:.1f}")
        lines.append(f"| {sigma} | {build * 1e3:.1f} | " + " | ".join(cells) + " |")

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"]["default"]
    delta, iterations, k = config["privacy"]["delta"], config["pe"]["iterations"], config["pe"]["k"]
    dims = vote_dimensions(k)
    lines += [
        "",
        f"## Calibration at the default config (delta {delta:g}, T = {iterations}, k = {k}, add/remove)",
        "",
        "Discrete: the PLD of `from_discrete_gaussian_mechanism`, composed T * k times. Continuous: the",
        "Gaussian PLD it replaces (noise multiplier sigma / sqrt(k)). The last column is the continuous",
        "accountant's epsilon at the discrete sigma. Time: one discrete calibration, no PLD cached (modules imported).",
        "",
        "| epsilon | sigma discrete | sigma continuous | discrete epsilon | continuous epsilon at it | calibration (s) |",
        "|---|---|---|---|---|---|",
    ]
    calibrate_sigma(1.0, delta, 1, 1)  # imports dp-accounting and scipy: not part of a calibration's time
    for epsilon in [e for e in config["privacy"]["epsilons"] if not math.isinf(float(e))]:
        _discrete_pld.cache_clear()
        start = time.perf_counter()
        discrete = calibrate_sigma(float(epsilon), delta, iterations, k)
        elapsed = time.perf_counter() - start
        continuous = calibrate_sigma(float(epsilon), delta, iterations, k, epsilon_fn=pld_epsilon)
        lines.append(
            f"| {epsilon} | {discrete:g} | {continuous:g} | {discrete_epsilon(discrete, delta, iterations * dims):.4f} "
            f"| {pld_epsilon(discrete / math.sqrt(dims), delta, iterations):.4f} | {elapsed:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "SAMPLER.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
