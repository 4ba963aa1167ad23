"""Accountant cross-check table: sigma for each (epsilon, T) from PLD, RDP and the closed form.

    python benchmarks/accountants.py            # writes benchmarks/ACCOUNTANTS.md

sigma is the noise standard deviation for sensitivity 1 (k = 1) at delta = 1e-5,
to 3 significant digits. PLD and RDP are dp-accounting's accountants; the
closed form is the exact analytic Gaussian mechanism (Balle and Wang, 2018)
applied to the T-fold composition (a Gaussian with sigma / sqrt(T)).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from private_evolution.accounting import (
    analytic_gaussian_sigma,
    calibrate_sigma,
    dp_accounting_version,
    pld_epsilon,
    rdp_epsilon,
    round_up_significant,
)

EPSILONS = (0.5, 1, 2, 4, 8)
ITERATIONS = (1, 10, 20)
DELTA = 1e-5


def table_rows(epsilons=EPSILONS, iterations=ITERATIONS, delta=DELTA):
    for T in iterations:
        for epsilon in epsilons:
            pld = calibrate_sigma(epsilon, delta, T, 1, epsilon_fn=pld_epsilon)
            rdp = calibrate_sigma(epsilon, delta, T, 1, epsilon_fn=rdp_epsilon)
            exact = round_up_significant(analytic_gaussian_sigma(epsilon, delta, T))
            yield {"T": T, "epsilon": epsilon, "pld": pld, "rdp": rdp, "analytic": exact}


def render(rows) -> str:
    lines = [
        "# Accountant cross-check",
        "",
        f"sigma (sensitivity 1) meeting (epsilon, delta = {DELTA:g}) for T Gaussian votes; dp-accounting "
        f"{dp_accounting_version()}. Made by `python benchmarks/accountants.py`.",
        "The workflow uses PLD. It must never need more noise than RDP (checked below and in tests), and",
        "it sits just above the exact closed form (PLD's pessimistic discretisation).",
        "",
        "| T | epsilon | PLD (used) | RDP | analytic Gaussian | PLD / analytic | PLD <= RDP |",
        "|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['T']} | {row['epsilon']:g} | {row['pld']:g} | {row['rdp']:g} | {row['analytic']:g} | "
            f"{row['pld'] / row['analytic']:.3f} | {'yes' if row['pld'] <= row['rdp'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=str(Path(__file__).with_name("ACCOUNTANTS.md")))
    args = parser.parse_args()
    rows = list(table_rows())
    Path(args.output).write_text(render(rows))
    bad = [r for r in rows if r["pld"] > r["rdp"] or not math.isfinite(r["pld"])]
    print(render(rows))
    if bad:
        raise SystemExit(f"PLD needs more noise than RDP for {bad}")


if __name__ == "__main__":
    main()
