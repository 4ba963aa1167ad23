"""Wall time of the default run: the workflow against the same stage functions in one process,
and how the workflow's time grows with the population size. Writes benchmarks/WALL.md.

    python benchmarks/wall.py            # about 15 minutes on 2 cores
    python benchmarks/wall.py --quick    # tiny sizes: checks the script works

- Default run: `snakemake --cores 2` on config/config.yaml in a fresh folder, and the same
  stage functions in one Python process (benchmarks/inprocess.py), alternating W I W I W I;
  medians of the repeats and the ratio of the medians.
- Growth: the default config at one epsilon (1) with N = 1,000, 3,000 and 10,000 (and
  30,000 with --largest), one workflow run each, and at the largest N each stage's summed
  job seconds from Snakemake's benchmark files (where the time goes).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from run import default_config, inprocess_run, job_table, snakemake_run  # noqa: E402


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--largest", action="store_true", help="also N = 30,000 (several minutes more)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "work" / "wall")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "WALL.md")
    args = parser.parse_args()
    config = default_config(args.quick)
    repeats = 1 if args.quick else args.repeats
    started = time.time()

    workflow, inprocess = [], []
    for repeat in range(repeats):
        workflow.append(snakemake_run(fresh(args.workdir / f"workflow{repeat}"), config))
        inprocess.append(inprocess_run(fresh(args.workdir / f"inprocess{repeat}"), config)[0])
        print(json.dumps({"workflow_s": workflow[-1], "inprocess_s": inprocess[-1]}), flush=True)
    stages = job_table(args.workdir / "workflow0", "default")

    sizes = [60, 120] if args.quick else [1000, 3000, 10000] + ([30000] if args.largest else [])
    growth = {}
    for size in sizes:
        grown = copy.deepcopy(config)
        exp = grown["experiments"]["default"]
        exp["privacy"]["epsilons"] = [1]
        exp["pe"]["num_samples"] = size
        folder = fresh(args.workdir / f"n{size}")
        growth[size] = snakemake_run(folder, grown)
        print(json.dumps({"N": size, "workflow_s": growth[size]}), flush=True)
    largest = job_table(args.workdir / f"n{sizes[-1]}", "default")

    median_w, median_i = statistics.median(workflow), statistics.median(inprocess)
    lines = [
        "# Default run: wall time",
        "",
        f"Made by `python benchmarks/wall.py{' --quick' if args.quick else ''}{' --largest' if args.largest else ''}` on "
        f"{os.cpu_count()} cores ({time.strftime('%Y-%m-%d %H:%M')}, {(time.time() - started) / 60:.0f} minutes); "
        f"{repeats} repeats, alternating, medians.",
        "",
        "## The default run (config/config.yaml, 6 epsilons)",
        "",
        "| run | median wall s | all runs |",
        "|---|---:|---|",
        f"| `snakemake --cores 2` (every job its own process) | {median_w:.1f} | {', '.join(f'{s:.1f}' for s in workflow)} |",
        f"| same stage functions, one process (`benchmarks/inprocess.py`) | {median_i:.1f} | {', '.join(f'{s:.1f}' for s in inprocess)} |",
        f"| **ratio workflow / in-process** | **{median_w / median_i:.2f}** | |",
        "",
        "Per stage in the first workflow run (Snakemake's benchmark files; two jobs share 2 cores):",
        "",
        "| stage | jobs | job seconds | peak RSS (MB) |",
        "|---|---:|---:|---:|",
        *[f"| {stage} | {row['jobs']} | {row['seconds']:.1f} | {row['max_rss_mb']:.0f} |" for stage, row in stages.items()],
        "",
        "## Growth with the population size N (epsilon 1 only, one run each)",
        "",
        "| N | workflow wall s |",
        "|---:|---:|",
        *[f"| {size:,} | {seconds:.1f} |" for size, seconds in growth.items()],
        "",
        f"Where the time goes at N = {sizes[-1]:,} (summed job seconds per stage):",
        "",
        "| stage | jobs | job seconds | share |",
        "|---|---:|---:|---:|",
    ]
    total = sum(row["seconds"] for row in largest.values()) or 1.0
    for stage, row in sorted(largest.items(), key=lambda item: -item[1]["seconds"]):
        lines.append(f"| {stage} | {row['jobs']} | {row['seconds']:.1f} | {row['seconds'] / total:.0%} |")
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
