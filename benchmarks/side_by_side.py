"""The default run of two revisions of the workflow, side by side: is a change slower?

    python benchmarks/side_by_side.py BEFORE [AFTER] [--rounds 2] [--configfile F]   # writes benchmarks/SIDE_BY_SIDE.md

Each revision is checked out into its own git worktree (AFTER defaults to the working
tree as it is, uncommitted edits included), given this checkout's config/config.yaml (so
both do the same work even if the defaults changed in between), and run with
``snakemake --cores 2`` from an empty results folder, its library on PYTHONPATH. Runs
alternate (before, after, before, after, ...) so that a slow spell of the machine hits
both; the table gives every run, the medians and their ratio. Only wall time is compared:
the random numbers may differ between revisions (e.g. re-keyed streams), the work does not.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout(revision: str | None, folder: Path) -> str:
    """A worktree of ``revision`` in ``folder`` (None: a copy of the working tree); its description."""
    if revision is None:
        # the tracked and untracked-but-not-ignored files, as git sees the working tree
        files = git("ls-files", "--cached", "--others", "--exclude-standard").splitlines()
        for name in files:
            if (REPO / name).is_file():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, folder / name)
        return f"working tree at {git('rev-parse', '--short', 'HEAD')}" + (" + edits" if git("status", "--porcelain") else "")
    git("worktree", "add", "--detach", "-q", str(folder), revision)
    return f"{revision} ({git('rev-parse', '--short', revision)})"


def run_default(folder: Path, cores: int) -> float:
    shutil.rmtree(folder / "results", ignore_errors=True)
    shutil.rmtree(folder / ".snakemake", ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(folder / "src"))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), "-q"], cwd=folder, env=env, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", help="a git revision")
    parser.add_argument("after", nargs="?", default=None, help="a git revision (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", default=str(REPO / "config" / "config.yaml"), help="the config both run (default: this checkout's)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "SIDE_BY_SIDE.md"))
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pe-side-by-side-"))
    trees = {"before": root / "before", "after": root / "after"}
    names = {"before": checkout(args.before, trees["before"]), "after": checkout(args.after, trees["after"])}
    try:
        for tree in trees.values():
            shutil.copyfile(args.configfile, tree / "config" / "config.yaml")
        seconds: dict[str, list[float]] = {"before": [], "after": []}
        for round_ in range(1, args.rounds + 1):
            for side in ("before", "after"):
                seconds[side].append(run_default(trees[side], args.cores))
                print(f"round {round_}: {side} {seconds[side][-1]:.1f} s", flush=True)
    finally:
        for side, tree in trees.items():
            if (tree / ".git").is_file():
                git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(root, ignore_errors=True)

    medians = {side: statistics.median(values) for side, values in seconds.items()}
    lines = [
        "# Side by side: the default run of two revisions",
        "",
        f"Made by `python benchmarks/side_by_side.py {args.before}{' ' + args.after if args.after else ''} --rounds {args.rounds}` "
        f"on {platform.node()} ({os.cpu_count()} CPUs), {time.strftime('%Y-%m-%d %H:%M')}; `snakemake --cores {args.cores}` "
        f"with `{Path(args.configfile).relative_to(REPO) if Path(args.configfile).resolve().is_relative_to(REPO) else args.configfile}` "
        "in both, from empty results folders, runs alternating.",
        "",
        f"- before: {names['before']}",
        f"- after: {names['after']}",
        "",
        "| round | before (s) | after (s) |",
        "|---:|---:|---:|",
        *[f"| {i + 1} | {b:.1f} | {a:.1f} |" for i, (b, a) in enumerate(zip(seconds["before"], seconds["after"]))],
        f"| **median** | **{medians['before']:.1f}** | **{medians['after']:.1f}** |",
        "",
        f"Ratio after / before (medians): **{medians['after'] / medians['before']:.3f}**.",
        "",
    ]
    Path(args.output).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
