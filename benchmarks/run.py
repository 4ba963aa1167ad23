"""Benchmarks of pe-workflow: one command writes benchmarks/RESULTS.md.

    python benchmarks/run.py            # full sizes (about an hour on 2 cores)
    python benchmarks/run.py --tiny     # a smoke test of every part (CI)

Parts, each measured side by side in this one run:
  1. the default config through Snakemake vs the same stage functions in one
     process (benchmarks/inprocess.py), alternating W I W I W I: medians of the
     wall and CPU times (CPU: every process of the run, Snakemake's included) and
     the ratio of the medians;
  2. per-stage job time, CPU and peak memory (every job a fresh process, measured by
     Snakemake's benchmark files) against the in-process time of the same stage;
  2b. growth: the default config at one epsilon (1) with N = 1,000, 3,000, 10,000
     and 30,000, one workflow run each, and where the time goes at the largest;
  3. import time of each stage script, and whether it imports torch;
  4. embedding throughput of the embed stage vs a bare forward pass;
  5. exact nearest-neighbour vote by numpy, torch and faiss, with equal counts;
  6. an epsilon sweep vs one single-epsilon run per epsilon;
  7. DAG scale: building and dry-running 6 epsilons x 30 iterations x 8 shards.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def timed_process(command: list[str], **kwargs) -> tuple[float, float]:
    """Wall seconds of a command, and the CPU seconds (user + system) of it and every process it
    waited for; ``kwargs`` go to subprocess.run (cwd, env)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def sh(command: list[str], cwd: Path | None = None) -> float:
    return timed_process(command, cwd=cwd)[0]


def snakemake_timed(workdir: Path, config: dict, cores: int = 2) -> tuple[float, float]:
    """(wall, CPU) seconds of ``snakemake --cores`` on ``config`` in ``workdir``."""
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return timed_process([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), "--cores", str(cores), "-q"])


def snakemake_run(workdir: Path, config: dict, cores: int = 2) -> float:
    return snakemake_timed(workdir, config, cores)[0]


def inprocess_run(workdir: Path, config: dict) -> tuple[float, dict[str, float], float]:
    """Wall seconds, seconds per stage and CPU seconds (this process's, every thread) of the stages in one process."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from inprocess import run_experiment
    from private_evolution.config import load_config

    (workdir / "config").mkdir(parents=True, exist_ok=True)
    experiments = load_config(config)
    start, cpu = time.perf_counter(), time.process_time()
    seconds: dict[str, float] = {}
    for exp in experiments.values():
        seconds = run_experiment(exp, workdir)
    return time.perf_counter() - start, seconds, time.process_time() - cpu


def job_table(workdir: Path, exp: str) -> dict[str, dict]:
    """Per rule (evaluate: per rule and feature space): jobs, summed wall and CPU seconds and peak RSS
    from Snakemake's benchmark files, most seconds first. A rule's files lie in a folder of its name,
    or one file is named after it; jobs that read private data keep theirs under private/benchmarks/."""
    import pandas as pd

    files: dict[str, list[Path]] = {}
    for root in (workdir / "results" / exp / "benchmarks", workdir / "results" / exp / "private" / "benchmarks"):
        for path in root.rglob("*.tsv"):
            rule = path.relative_to(root).parts[0].removesuffix(".tsv")
            if rule.startswith("check_source_"):  # one job per source, named by its digest
                rule = "check_source"
            if rule == "evaluate":  # <run>_iter_<t>_<space>.tsv
                rule = f"evaluate ({path.stem.rsplit('_', 1)[-1]})"
            files.setdefault(rule, []).append(path)
    table = {}
    for rule, paths in files.items():
        frames = pd.concat([pd.read_csv(path, sep="\t") for path in paths])
        table[rule] = {
            "jobs": len(paths), "seconds": float(frames["s"].sum()), "cpu_s": float(frames["cpu_time"].sum()),
            "max_rss_mb": float(frames["max_rss"].max()),
        }
    return dict(sorted(table.items(), key=lambda item: -item[1]["seconds"]))


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def growth(config: dict, sizes: list[int], root: Path) -> dict:
    """The workflow at one epsilon (1) for each population size N: (wall, CPU) seconds per N, and
    the per-rule job table of the largest."""
    runs = {}
    for size in sizes:
        grown = yaml.safe_load(yaml.safe_dump(config))
        exp = grown["experiments"]["default"]
        exp["privacy"]["epsilons"] = [1]
        exp["pe"]["num_samples"] = size
        runs[size] = snakemake_timed(fresh(root / f"n{size}"), grown)
        print(f"  N = {size}: {runs[size][0]:.1f} s", flush=True)
    return {"runs": runs, "largest": job_table(root / f"n{sizes[-1]}", "default")}


def import_times(repeats: int) -> dict[str, tuple[float, bool]]:
    result = {}
    for stage in ("prepare_private", "embed", "calibrate", "random_population", "vote", "select", "vary", "lookahead", "evaluate"):
        code = f"import sys, private_evolution.stages.{stage}, private_evolution.logs; print('torch' in sys.modules)"
        times, uses_torch = [], False
        for _ in range(repeats):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
            times.append(time.perf_counter() - start)
            uses_torch = out.strip() == "True"
        result[stage] = (statistics.median(times), uses_torch)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    result["(import torch alone)"] = (time.perf_counter() - start, True)
    return result


def embedding_throughput(num_images: int, repeats: int, workdir: Path, device: str = "cpu", jobs: bool = True) -> dict[str, float]:
    """The embed stage (load, build, preprocess, forward, save) vs a bare forward of the same network."""
    import torch

    def synchronize():  # GPU kernels run asynchronously: a timing must wait for them
        if device == "cuda":
            torch.cuda.synchronize()

    from private_evolution.embedders import make_embedder
    from private_evolution.io import save_npz
    from private_evolution.stages.embed import embed

    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(num_images, 28, 28, 1), dtype=np.uint8)
    save_npz(workdir / "images.npz", images=images, labels=np.zeros(num_images, int))
    cfg = {"name": "effnet_lite0", "resolution": 64, "batch_size": 256, "device": device, "weights": None}
    stage_times, job_times, bare_times = [], [], []
    embedder = make_embedder({**cfg, "threads": 2})
    batch = embedder._prepare(images[:256])
    job = (
        "from private_evolution.stages.embed import embed; "
        f"embed({str(workdir / 'images.npz')!r}, {str(workdir / 'out.npz')!r}, {cfg!r}, 2)"
    )
    for _ in range(repeats):
        stage_times.append(_timed(lambda: embed(str(workdir / "images.npz"), str(workdir / "out.npz"), cfg, 2)))
        if jobs:
            job_times.append(sh([sys.executable, "-c", job]))
        with torch.inference_mode():
            synchronize()
            start = time.perf_counter()
            for begin in range(0, num_images, 256):
                embedder.model.extract_features(batch[: min(256, num_images - begin)]).mean(dim=(2, 3))
            synchronize()
            bare_times.append(time.perf_counter() - start)
    stage, bare = statistics.median(stage_times), statistics.median(bare_times)
    job = statistics.median(job_times) if jobs else float("nan")
    return {
        "images": num_images, "stage_ips": num_images / stage, "job_ips": num_images / job,
        "bare_ips": num_images / bare, "ratio": bare / stage, "job_ratio": bare / job,
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def vote_backends(num_private: int, num_synthetic: int, dim: int, repeats: int, backends=None, classes: int = 1) -> dict[str, float]:
    """Seconds of the exact vote per backend (median of ``repeats``) on random features, the
    samples spread evenly over ``classes``; ``same_counts``: whether all backends agree."""
    from private_evolution.vote import NN_BACKENDS, nearest_neighbor_counts

    backends = backends or NN_BACKENDS

    rng = np.random.default_rng(0)
    private = rng.normal(size=(num_private, dim)).astype(np.float32)
    synthetic = rng.normal(size=(num_synthetic, dim)).astype(np.float32)
    labels_p, labels_s = np.arange(num_private) % classes, np.arange(num_synthetic) % classes
    seconds, counts = {}, {}
    for backend in backends:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            counts[backend] = nearest_neighbor_counts(private, labels_p, synthetic, labels_s, backend=backend)
            times.append(time.perf_counter() - start)
        seconds[backend] = statistics.median(times)
    first = counts[backends[0]]
    seconds["same_counts"] = all(np.array_equal(first, c) for c in counts.values())
    return seconds


def sweep_vs_singles(config: dict, root: Path) -> dict[str, float]:
    epsilons = config["experiments"]["default"]["privacy"]["epsilons"]
    sweep = snakemake_run(root / "sweep", config)
    singles = []
    for i, eps in enumerate(epsilons):
        single = yaml.safe_load(yaml.safe_dump(config))
        single["experiments"]["default"]["privacy"]["epsilons"] = [eps]
        singles.append(snakemake_run(root / f"single_{i}", single))
    return {"epsilons": len(epsilons), "sweep": sweep, "singles": sum(singles), "ratio": sweep / sum(singles)}


def dag_scale(root: Path, epsilons: list, iterations: int, shards: int, repeats: int) -> dict:
    """Wall time of `snakemake --dry-run` (DAG build and job planning) on a large sharded config."""
    import re

    config = {"experiments": {"big": {"pe": {"iterations": iterations}, "privacy": {"epsilons": epsilons},
                                      "compute": {"shards": shards}}}}
    (root / "config").mkdir(parents=True, exist_ok=True)
    (root / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(root), "--dry-run"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    jobs = int(re.search(r"^total\s+(\d+)", result.stdout + result.stderr, re.M).group(1))
    return {"epsilons": len(epsilons), "iterations": iterations, "shards": shards, "jobs": jobs, "seconds": statistics.median(times)}


def default_config(tiny: bool) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if tiny:
        exp = config["experiments"]["default"]
        exp["dataset"].update(num_private=300, num_heldout=100)
        exp["pe"].update(iterations=2, num_samples=60)
        exp["embedder"]["resolution"] = 32
        exp["privacy"]["epsilons"] = [1, "inf"]
    return config


def _listed(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def stage_rows(table: dict, inprocess: dict | None = None) -> list[str]:
    """Rows of a per-rule job table; with ``inprocess``, beside that rule's in-process seconds."""
    rows = []
    total = sum(row["seconds"] for row in table.values()) or 1.0
    for rule, row in table.items():
        cells = [rule, str(row["jobs"]), f"{row['seconds']:.1f}", f"{row['cpu_s']:.1f}"]
        if inprocess is None:
            cells.append(f"{row['seconds'] / total:.0%}")
        else:
            base = rule.split(" (")[0]  # in one process, evaluate holds every space
            seconds = inprocess.get(base)
            cells.append("" if seconds is None else f"{seconds:.1f}" + (" (all spaces)" if base != rule else ""))
        cells.append(f"{row['max_rss_mb']:.0f}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def render(args, results: dict) -> str:
    wall_w, wall_i = statistics.median(results["workflow_s"]), statistics.median(results["inprocess_s"])
    cpu_w, cpu_i = statistics.median(results["workflow_cpu"]), statistics.median(results["inprocess_cpu"])
    repeats = len(results["workflow_s"])
    lines = [
        "# Benchmarks",
        "",
        f"Made by `python benchmarks/run.py{' --tiny' if args.tiny else ''}` on {platform.node()} "
        f"({os.cpu_count()} CPUs, {platform.python_version()}), {time.strftime('%Y-%m-%d %H:%M')}, in "
        f"{results['minutes']:.0f} minutes; all figures from this one run.",
        "",
        "## Workflow vs one process (default config)",
        "",
        f"{repeats} runs of each, alternating (workflow, in-process, workflow, ...); medians. CPU seconds: user +",
        "system of every process of the run (Snakemake, its job processes), or of the one process.",
        "Before them, one run of each on the tiny config (`--tiny`'s sizes), not measured "
        f"({results['warmup_s'][0]:.1f} s and {results['warmup_s'][1]:.1f} s): the first run after the machine",
        "has been idle reads the libraries from disk again (a first run here has taken up to 50 s longer).",
        "",
        "| run | median wall s | median CPU s | wall s of each run |",
        "|---|---:|---:|---|",
        f"| `snakemake --cores 2` (every job a fresh process) | {wall_w:.1f} | {cpu_w:.1f} | {_listed(results['workflow_s'])} |",
        f"| same stage functions, one Python process (`benchmarks/inprocess.py`) | {wall_i:.1f} | {cpu_i:.1f} | {_listed(results['inprocess_s'])} |",
        f"| **ratio workflow / in-process** | **{wall_w / wall_i:.2f}** | {cpu_w / cpu_i:.2f} | |",
        "",
        "## Per stage: job time, peak memory, and what the job adds over the computation",
        "",
        "From the first workflow run. Job seconds are Snakemake's benchmark `s` (wall) and `cpu_time`",
        "summed over the rule's jobs, each job a fresh Python process (interpreter, imports,",
        "file I/O, compute); Snakemake samples a job's CPU every half second, so the",
        "shortest jobs' CPU is partly missed. Two jobs run side by side on 2 cores, so job seconds also",
        "hold their contention. In-process seconds are the same stage functions inside one process (the",
        "first in-process run; its `evaluate` holds both spaces, its `prepare_private` the three data",
        "parts). Peak RSS is Snakemake's `max_rss` of the job's process.",
        "",
        "| rule | jobs | job s | job CPU s | in-process s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
        *stage_rows(results["jobs"], results["inprocess_stages"]),
    ]
    grown = results["growth"]
    sizes = list(grown["runs"])
    lines += [
        "", "## Growth with the population size N (epsilon 1 only, one run each)", "",
        "| N | workflow wall s | CPU s |", "|---:|---:|---:|",
        *[f"| {size:,} | {wall:.1f} | {cpu:.1f} |" for size, (wall, cpu) in grown["runs"].items()],
        "", f"Where the time goes at N = {sizes[-1]:,} (Snakemake's benchmark files):", "",
        "| rule | jobs | job s | job CPU s | share of job s | peak RSS (MB) |", "|---|---:|---:|---:|---:|---:|",
        *stage_rows(grown["largest"]),
    ]
    lines += ["", "## Import time of each stage (median of runs; a fresh interpreter each)", "",
              "| stage module | import s | imports torch |", "|---|---:|:---:|"]
    for stage, (seconds, torch_loaded) in results["imports"].items():
        lines.append(f"| {stage} | {seconds:.2f} | {'yes' if torch_loaded else 'no'} |")
    emb = results["embedding"]
    lines += [
        "", "## Embedding throughput (CPU, EfficientNet-Lite0 at 64x64, 2 threads)", "",
        "| | images/s |", "|---|---:|",
        f"| embed stage (`stages.embed`: read npz, build model, preprocess, forward, write) | {emb['stage_ips']:.0f} |",
        f"| bare forward pass of the same network on ready tensors | {emb['bare_ips']:.0f} |",
        f"| the same as a job: fresh interpreter, imports (torch), then the stage | {emb['job_ips']:.0f} |",
        f"| **ratio stage / bare** ({emb['images']} images) | **{emb['ratio']:.2f}** |",
        f"| ratio job / bare | {emb['job_ratio']:.2f} |",
        "", "GPU: not measured in this run (no GPU machine was lent to this task).",
    ]
    lines += ["", "## Exact nearest-neighbour vote backends (CPU)", "",
              "| private x synthetic x dim | numpy s | torch s | faiss s | same counts |", "|---|---:|---:|---:|:---:|"]
    for size, row in results["vote"].items():
        lines.append(f"| {size} | {row['numpy']:.2f} | {row['torch']:.2f} | {row['faiss']:.2f} | {'yes' if row['same_counts'] else 'NO'} |")
    sweep = results["sweep"]
    lines += [
        "", "## An epsilon sweep vs single-epsilon runs", "",
        f"One workflow run over {sweep['epsilons']} epsilons shares its private-free prefix (data, private",
        "embedding, RANDOM_API and its embedding) across them.", "",
        "| | wall s |", "|---|---:|",
        f"| one sweep over {sweep['epsilons']} epsilons | {sweep['sweep']:.1f} |",
        f"| {sweep['epsilons']} single-epsilon runs, summed | {sweep['singles']:.1f} |",
        f"| **ratio** | **{sweep['ratio']:.2f}** |",
    ]
    dag = results["dag"]
    lines += [
        "", "## DAG scale (dry run)", "",
        "`snakemake --dry-run` on a config with many epsilons, iterations and shards: Snakefile parsing,",
        "config validation, DAG construction and job planning, in a fresh interpreter (median of runs).", "",
        "| epsilons x iterations x shards | jobs | dry-run wall s (target < 30) |", "|---|---:|---:|",
        f"| {dag['epsilons']} x {dag['iterations']} x {dag['shards']} | {dag['jobs']:,} | {dag['seconds']:.1f} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small sizes: checks that every part works")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "work")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    fresh(args.workdir)
    config = default_config(args.tiny)
    repeats = 1 if args.tiny else 3
    started = time.time()
    results: dict = {key: [] for key in ("workflow_s", "workflow_cpu", "inprocess_s", "inprocess_cpu")}
    # Unmeasured: one tiny run of each first, so that the first measured run does not pay for
    # reading torch, scipy, pandas and matplotlib from disk where the page cache lost them.
    print("warm-up runs (tiny config, not measured) ...", flush=True)
    results["warmup_s"] = (
        snakemake_timed(fresh(args.workdir / "warmup_workflow"), default_config(True))[0],
        inprocess_run(fresh(args.workdir / "warmup_inprocess"), default_config(True))[0],
    )
    for repeat in range(repeats):
        print(f"workflow run {repeat + 1} ...", flush=True)
        wall, cpu = snakemake_timed(fresh(args.workdir / f"workflow{repeat}"), config)
        results["workflow_s"].append(wall)
        results["workflow_cpu"].append(cpu)
        print(f"in-process run {repeat + 1} ...", flush=True)
        wall, stages, cpu = inprocess_run(fresh(args.workdir / f"inprocess{repeat}"), config)
        results["inprocess_s"].append(wall)
        results["inprocess_cpu"].append(cpu)
        results.setdefault("inprocess_stages", stages)
    results["jobs"] = job_table(args.workdir / "workflow0", "default")
    print("growth ...", flush=True)
    results["growth"] = growth(config, [60, 120] if args.tiny else [1000, 3000, 10000, 30000], args.workdir / "growth")
    print("imports ...", flush=True)
    results["imports"] = import_times(repeats)
    print("embedding ...", flush=True)
    results["embedding"] = embedding_throughput(256 if args.tiny else 4096, repeats, args.workdir)
    print("vote backends ...", flush=True)
    sizes = [(2000, 500, 64)] if args.tiny else [(10_000, 1_000, 1280), (100_000, 10_000, 1280)]
    results["vote"] = {f"{p:,} x {s:,} x {d}": vote_backends(p, s, d, repeats if p < 50_000 else 1) for p, s, d in sizes}
    print("sweep vs singles ...", flush=True)
    sweep_config = default_config(True)
    sweep_config["experiments"]["default"]["privacy"]["epsilons"] = [1, "inf"] if args.tiny else [1, 4, "inf"]
    if not args.tiny:
        sweep_config["experiments"]["default"]["pe"].update(iterations=3, num_samples=500)
        sweep_config["experiments"]["default"]["embedder"]["resolution"] = 64
    results["sweep"] = sweep_vs_singles(sweep_config, args.workdir / "sweep")
    print("DAG scale ...", flush=True)
    epsilons = [0.5, 1, 2, 4, 8, "inf"]
    results["dag"] = dag_scale(args.workdir / "dag", epsilons[:2] if args.tiny else epsilons, 3 if args.tiny else 30,
                               2 if args.tiny else 8, repeats)
    results["minutes"] = (time.time() - started) / 60
    text = render(args, results)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
