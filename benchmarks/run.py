"""Benchmarks of pe-workflow: one command writes benchmarks/RESULTS.md.

    python benchmarks/run.py            # full sizes (about 20 minutes on 2 cores)
    python benchmarks/run.py --tiny     # a smoke test of every part (CI)

Parts, each measured side by side in this one run:
  1. the default config through Snakemake vs the same stage functions in one
     process (benchmarks/inprocess.py): wall times and their ratio;
  2. per-stage job time and peak memory (every job a fresh process, measured by
     Snakemake's benchmark files) against the in-process time of the same stage;
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
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = (
    "calibrate", "prepare_private", "embed_real", "random_population", "embed", "vote", "select", "vary", "evaluate",
    "evaluate_accuracy",
)


def sh(command: list[str], cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def snakemake_run(workdir: Path, config: dict, cores: int = 2) -> float:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return sh([sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir), "--cores", str(cores), "-q"])


def inprocess_run(workdir: Path, config: dict) -> tuple[float, dict[str, float]]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from inprocess import run_experiment
    from private_evolution.config import load_config

    (workdir / "config").mkdir(parents=True, exist_ok=True)
    experiments = load_config(config)
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    for exp in experiments.values():
        seconds = run_experiment(exp, workdir)
    return time.perf_counter() - start, seconds


def job_table(workdir: Path, exp: str) -> dict[str, dict]:
    """Per rule: jobs, summed seconds and peak RSS from Snakemake's benchmark files."""
    import pandas as pd

    table = {}
    # jobs that read private data keep their benchmark files under private/benchmarks/
    roots = [workdir / "results" / exp / "benchmarks", workdir / "results" / exp / "private" / "benchmarks"]
    for stage in STAGES:
        files = [path for root in roots for path in [*root.glob(f"{stage}/*.tsv"), *root.glob(f"{stage}.tsv")]]
        if not files:
            continue
        frames = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        table[stage] = {"jobs": len(files), "seconds": float(frames["s"].sum()), "max_rss_mb": float(frames["max_rss"].max())}
    return table


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


def render(args, results: dict) -> str:
    wf, ip = results["workflow_s"], results["inprocess_s"]
    lines = [
        "# Benchmarks",
        "",
        f"Made by `python benchmarks/run.py{' --tiny' if args.tiny else ''}` on {platform.node()} "
        f"({os.cpu_count()} CPUs, {platform.python_version()}), {time.strftime('%Y-%m-%d %H:%M')}; all figures from this one run.",
        "",
        "## Workflow vs one process (default config)",
        "",
        "| run | wall time (s) |",
        "|---|---:|",
        f"| `snakemake --cores 2` (every job a fresh process) | {wf:.1f} |",
        f"| same stage functions, one Python process (`benchmarks/inprocess.py`) | {ip:.1f} |",
        f"| **ratio workflow / in-process** | **{wf / ip:.2f}** |",
        "",
        "## Per stage: job time, peak memory, and what the job adds over the computation",
        "",
        "Job seconds are Snakemake's benchmark `s` summed over the stage's jobs, each job a fresh",
        "Python process (interpreter, imports, file I/O, compute). In-process seconds are the same",
        "stage functions inside one process. Overhead = 1 - in-process / job seconds. Two jobs run",
        "side by side on 2 cores, so job seconds also hold their contention. Peak RSS is Snakemake's",
        "`max_rss` of the job's process.",
        "",
        "| stage | jobs | job s | in-process s | overhead | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for stage, row in results["jobs"].items():
        inproc = results["inprocess_stages"].get(stage, float("nan"))
        lines.append(
            f"| {stage} | {row['jobs']} | {row['seconds']:.1f} | {inproc:.1f} | "
            f"{1 - inproc / row['seconds']:.0%} | {row['max_rss_mb']:.0f} |"
        )
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
    import shutil

    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    config = default_config(args.tiny)
    repeats = 1 if args.tiny else 3
    results: dict = {}
    print("workflow run ...", flush=True)
    results["workflow_s"] = snakemake_run(args.workdir / "workflow", config)
    print("in-process run ...", flush=True)
    results["inprocess_s"], results["inprocess_stages"] = inprocess_run(args.workdir / "inprocess", config)
    results["jobs"] = job_table(args.workdir / "workflow", "default")
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
    text = render(args, results)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
