"""Wall time of single Snakemake jobs of the light stages (select, vote): the fixed cost per job.

    python benchmarks/jobs.py run WORKDIR [--checkout DIR] [--tiny] [--config KEY=VALUE ...]
    python benchmarks/jobs.py replay WORKDIR [WORKDIR ...] [--rounds N] [--rules RULE ...]
    python benchmarks/jobs.py parse WORKDIR --checkout DIR [--checkout DIR ...] [--rounds N]

``run`` runs the default config (``--tiny``: 2 epsilons, T = 2, small sizes) with
``snakemake --cores 2`` from the workflow and library of ``--checkout`` (default: this
checkout; for another revision, ``git worktree add --detach /tmp/x REV``) in an empty
WORKDIR (keeping the scripts Snakemake generates for the jobs of a revision whose rules ran
``script:``, ``--skip-script-cleanup``).
It prints the run's wall time and, for the rules select and vote, the median of Snakemake's
own benchmark files over every job of the rule (``s``: wall time of the job's process,
``cpu_time``, ``max_rss``); two jobs run side by side there, so wall times hold their contention.

``parse`` times a dry run (``snakemake -n``: the Snakefile's parse and the DAG, which every
snakemake command and every cluster job pays) in a WORKDIR that ``run`` finished, with the
workflow and library of each ``--checkout`` in turn, N rounds; it prints each checkout's median
wall and CPU seconds and the ratio of the medians to the first checkout's.

``replay`` runs those jobs again (or those of ``--rules``, such as vary), one at a time, each as Snakemake ran it (its shell command,
or ``python <kept script>``, in its WORKDIR, the library of the run's checkout on PYTHONPATH), for N
rounds over the same jobs; the WORKDIRs take turns job by job, so that a busy spell of the
machine hits each alike. It prints the median wall time and CPU time (user + system, which
depends less on other load) per rule and WORKDIR. A replayed
vote resumes its recorded draw (same key, same noise) and writes the same files again.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import yaml
from run import default_config, timed_process  # benchmarks/run.py: the default config (or its tiny sizes), a timed command

REPO = Path(__file__).resolve().parents[1]
RULES = ("select", "vote")
CHECKOUT_FILE = "checkout.txt"  # in WORKDIR: the checkout whose library its jobs ran


# What Snakemake's shell() sets for every job (its threads: 1 for select and vote), so that a
# replayed job loads numpy's BLAS as the job did.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def environment(checkout: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(checkout / "src"), **dict.fromkeys(THREAD_VARIABLES, "1"))


def run_workflow(checkout: Path, workdir: Path, config: dict, extra: list[str]) -> float:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    (workdir / CHECKOUT_FILE).write_text(str(checkout))
    command = [
        sys.executable, "-m", "snakemake", "-s", str(checkout / "workflow" / "Snakefile"), "--directory", str(workdir),
        "--cores", "2", "--skip-script-cleanup", "-q", *(["--config", *extra] if extra else []),
    ]
    return timed_process(command, env=environment(checkout))[0]


def benchmark_rows(workdir: Path, rule: str) -> list[dict]:
    """Snakemake's benchmark rows of the rule's jobs (not its shard jobs), public and private
    (select's epsilon = inf reference jobs write under private/benchmarks/select/private/)."""
    rows = []
    for path in sorted(workdir.glob(f"results/*/**/benchmarks/{rule}/**/*.tsv")):
        if "_shard_" in path.name:
            continue
        with open(path, newline="") as handle:
            rows += list(csv.DictReader(handle, delimiter="\t"))
    return rows


def job_commands(workdir: Path, rule: str) -> list[list[str]]:
    """The commands the rule's jobs ran (vote's include vote_reference's and the shards'): each
    job's shell command from Snakemake's metadata records (a stage run by ``shell:``, as now),
    or for a revision whose rules ran ``script:``, the scripts Snakemake generated for them."""
    scripts = sorted((workdir / ".snakemake" / "scripts").glob(f"tmp*.{rule}.py"))
    if scripts:
        return [[sys.executable, str(script)] for script in scripts]
    commands = set()
    for record in (workdir / ".snakemake" / "metadata").iterdir():
        job = json.loads(record.read_text())
        if job.get("shellcmd") and f"/scripts/{rule}.py " in job["shellcmd"]:
            commands.add(job["shellcmd"])
    return [["bash", "-c", command] for command in sorted(commands)]


def run_job(workdir: Path, command: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of a job's command."""
    checkout = Path((workdir / CHECKOUT_FILE).read_text())
    return timed_process(command, cwd=workdir, env=environment(checkout))


def run(args) -> None:
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    checkout = args.checkout.resolve()
    wall = run_workflow(checkout, args.workdir, default_config(args.tiny), args.config)
    print(f"{checkout} {' '.join(args.config)}: workflow {wall:.1f} s")
    print("| rule | jobs | median s | median cpu_time (s) | median max_rss (MB) |")
    print("|---|---:|---:|---:|---:|")
    for rule in RULES:
        rows = benchmark_rows(args.workdir, rule)
        print(
            f"| {rule} | {len(rows)} | {median(rows, 's'):.2f} | {median(rows, 'cpu_time'):.2f} | "
            f"{median(rows, 'max_rss'):.0f} |"
        )


def median(rows: list[dict], column: str) -> float:
    return statistics.median(float(row[column]) for row in rows)


def replay(args) -> None:
    seconds = {(workdir, rule): [] for workdir in args.workdirs for rule in args.rules}
    for _ in range(args.rounds):
        for rule in args.rules:
            commands = {workdir: job_commands(workdir, rule) for workdir in args.workdirs}
            for workdir, found in commands.items():
                if not found:
                    sys.exit(f"no {rule} jobs recorded in {workdir}/.snakemake/metadata: is '{rule}' a rule of that run?")
            for index in range(min(map(len, commands.values()))):
                for workdir in args.workdirs:
                    seconds[workdir, rule].append(run_job(workdir, commands[workdir][index]))
    print("| workdir | rule | replays | median wall s | median CPU s |")
    print("|---|---|---:|---:|---:|")
    for (workdir, rule), values in seconds.items():
        wall, cpu = (statistics.median(column) for column in zip(*values))
        print(f"| {workdir} | {rule} | {len(values)} | {wall:.2f} | {cpu:.2f} |")


def parse(args) -> None:
    checkouts = [checkout.resolve() for checkout in args.checkout]
    seconds = {checkout: [] for checkout in checkouts}
    for _ in range(args.rounds):
        for checkout in checkouts:  # in turn, so that a busy spell hits each alike
            command = [
                sys.executable, "-m", "snakemake", "-n", "--cores", "1",
                "-s", str(checkout / "workflow" / "Snakefile"), "--directory", str(args.workdir),
            ]
            seconds[checkout].append(timed_process(command, env=environment(checkout)))
    first = None
    print("| checkout | dry runs | median wall s | median CPU s | CPU ratio to the first |")
    print("|---|---:|---:|---:|---:|")
    for checkout, values in seconds.items():
        wall, cpu = (statistics.median(column) for column in zip(*values))
        first = first or cpu
        print(f"| {checkout} | {len(values)} | {wall:.2f} | {cpu:.2f} | {cpu / first:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the workflow and read its benchmark files")
    run_parser.add_argument("workdir", type=Path)
    run_parser.add_argument("--checkout", type=Path, default=REPO, help="the repository whose workflow and library run")
    run_parser.add_argument("--tiny", action="store_true", help="the tiny sizes (a quick check)")
    run_parser.add_argument("--config", nargs="*", default=[], help="passed to snakemake --config")
    replay_parser = commands.add_parser("replay", help="run the select and vote jobs again")
    replay_parser.add_argument("workdirs", type=Path, nargs="+")
    replay_parser.add_argument("--rounds", type=int, default=1)
    replay_parser.add_argument("--rules", nargs="+", default=list(RULES), help="the rules to replay (default: select vote)")
    parse_parser = commands.add_parser("parse", help="time dry runs of a finished WORKDIR, checkouts in turn")
    parse_parser.add_argument("workdir", type=Path)
    parse_parser.add_argument("--checkout", type=Path, action="append", required=True)
    parse_parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    {"run": run, "replay": replay, "parse": parse}[args.command](args)


if __name__ == "__main__":
    main()
