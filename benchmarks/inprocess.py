"""The PE computation of one experiment in a single Python process.

The same stage functions, the same config and the same files as the Snakemake
workflow, called in a valid order by a plain loop: the baseline that measures
what the workflow costs (job start-up, scheduling) over the bare computation.

    python benchmarks/inprocess.py --workdir DIR     # DIR/config/config.yaml
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from private_evolution.config import load_config
from private_evolution.embedders import embedder_class
from private_evolution.report import PLOT_FILES, collect_metrics, plot_all, privacy_ledger, sample_epsilons
from private_evolution.stages.calibrate import calibrate
from private_evolution.stages.embed import embed
from private_evolution.stages.evaluate import evaluate, evaluate_accuracy, evaluate_images
from private_evolution.stages.lookahead import lookahead
from private_evolution.contract import ledger_private
from private_evolution.ledger import data_source
from private_evolution.stages.prepare_private import prepare_private
from private_evolution.stages.random_population import random_population
from private_evolution.stages.select import select
from private_evolution.stages.train_feature_classifier import train_feature_classifier
from private_evolution.stages.vary import vary
from private_evolution.stages.vote import vote


def run_experiment(exp, workdir: Path, threads: int = 2) -> dict[str, float]:
    """Run every stage of ``exp`` under ``workdir/results``; returns seconds per stage kind."""
    root = workdir / "results" / exp.name
    private = root / "private"
    name = exp.embedder.name
    embedder = exp.embedder_options(exp.embedder.name)
    target = {"class_names": exp.dataset.class_names, "image_size": exp.dataset.image_size, "channels": exp.dataset.channels}
    seconds: dict[str, float] = {}

    def timed(stage, fn, *args, **kwargs):
        start = time.perf_counter()
        fn(*args, **kwargs)
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start

    def run_dir(eps: str, t: int) -> Path:
        return root / "shared" / "iter_0" if t == 0 else root / f"eps_{eps}" / f"iter_{t}"

    preparation = private / "data_preparation.json"
    validation = private / "validation.npz" if exp.dataset.num_validation > 0 else None
    # the data set's ledger, as in the workflow (results/_ledger/<source>/private)
    ledger = workdir / ledger_private(data_source(exp.section("dataset")))
    timed(
        "prepare_private", prepare_private, exp.section("dataset"), str(private / "private.npz"), str(private / "heldout.npz"),
        validation and str(validation), str(preparation), str(ledger), exp.name,
    )
    for split in ("private", "heldout"):
        timed("embed_real", embed, str(private / f"{split}.npz"), str(private / f"{split}_embed_{name}.npz"), embedder, threads)
    # the evaluation feature spaces the vote does not use: the validation classifier is trained
    # once, then embeds the held-out set and (in each population's evaluate job) the population
    spaces = {}
    for space in exp.evaluation_embedders:
        if space == name:
            continue
        options = exp.embedder_options(space)
        if space == "classifier":
            options["weights"] = str(private / "feature_classifier.npz")
            timed("train_feature_classifier", train_feature_classifier, str(validation), len(exp.dataset.class_names), exp.section("evaluation")["classifier"], options["weights"])
        spaces[space] = options
        timed("embed_real", embed, str(private / "heldout.npz"), str(private / f"heldout_embed_{space}.npz"), options, threads)
    k, measures = exp.evaluation.k_nearest, exp.evaluation.metrics
    evaluated = {space: embedder_class(space).evaluated_iterations(exp) for space in exp.evaluation_embedders}

    def embed_and_evaluate(folder: Path, t: int) -> None:
        """The new population in the vote's space, and its metrics in every evaluation space that
        measures iteration ``t`` (evaluation.iterations)."""
        timed("embed", embed, str(folder / "population.npz"), str(folder / f"embed_{name}.npz"), embedder, threads)
        for space, options in {**spaces, name: None}.items():
            if space in exp.evaluation_embedders and t not in evaluated[space]:
                continue
            heldout = str(private / f"heldout_embed_{space}.npz")
            if options is not None and embedder_class(space).uses_validation_classifier:
                timed(
                    "evaluate", evaluate_images, str(folder / "population.npz"), heldout, options,
                    str(folder / f"metrics_{space}.json"), measures, {"k_nearest": k}, threads,
                )
                continue
            if options is not None:
                timed("embed", embed, str(folder / "population.npz"), str(folder / f"embed_{space}.npz"), options, threads)
            timed(
                "evaluate", evaluate, str(folder / f"embed_{space}.npz"), heldout, space,
                str(folder / f"metrics_{space}.json"), measures, {"k_nearest": k},
            )

    zero = run_dir("", 0)
    # threads=1: as the workflow's random_population and vary jobs (their rules' threads)
    timed("random_population", random_population, exp.api_options(), target, exp.pe.num_samples, exp.pe.seed, str(zero / "population.npz"), threads=1)
    embed_and_evaluate(zero, 0)
    privacy = {"delta": exp.privacy.delta, "adjacency": exp.privacy.adjacency, "seed_mode": exp.privacy.seed_mode, "seed": exp.privacy.seed}
    entries = []
    for eps, epsilon in zip(exp.epsilon_labels, exp.privacy.epsilons):
        privacy_path = root / f"eps_{eps}" / "privacy.json"
        timed("calibrate", calibrate, privacy, epsilon, exp.pe.iterations, exp.pe.k, exp.pe.threshold, str(privacy_path), exp.pe.num_samples)
        entries += [{"epsilon": eps, "iteration": 0, "path": str(zero / f"metrics_{space}.json")} for space in exp.evaluation_embedders if 0 in evaluated[space]]
        for t in range(1, exp.pe.iterations + 1):
            previous, here = run_dir(eps, t - 1), run_dir(eps, t)
            vote_features = previous / f"embed_{name}.npz"
            if exp.pe.lookahead:  # as the workflow's lookahead rule: candidates of t - 1 varied at the degree of t
                vote_features = previous / f"lookahead_{name}.npz"
                shared = None if t == 1 else epsilon  # iteration 0 is shared by every epsilon
                timed(
                    "lookahead", lookahead, exp.api_options(), target, embedder, str(previous / "population.npz"),
                    exp.degrees[t - 1], exp.pe.lookahead, t - 1, shared, exp.pe.seed, str(vote_features), threads,
                )
            # the un-noised epsilon = inf vote stays under private/, as in the workflow
            votes = (private / f"eps_{eps}" / f"iter_{t}" if eps == "inf" else here) / "votes.npz"
            timed(
                "vote", vote, str(private / f"private_embed_{name}.npz"), str(vote_features), str(privacy_path),
                exp.name, t, str(ledger), str(preparation), "in-process benchmark", str(votes),
                str(private / f"eps_{eps}" / f"iter_{t}" / "draw.json"),
            )
            timed("select", select, str(votes), t, epsilon, exp.pe.seed, str(here / "selected.npz"), exp.population_size(t), len(exp.dataset.class_names))
            timed("vary", vary, exp.api_options(), target, str(previous / "population.npz"), str(here / "selected.npz"), exp.degrees[t - 1], t, epsilon, exp.pe.seed, str(here / "population.npz"), threads=1)
            embed_and_evaluate(here, t)
            entries += [{"epsilon": eps, "iteration": t, "path": str(here / f"metrics_{space}.json")} for space in exp.evaluation_embedders if t in evaluated[space]]
    entries += [{"epsilon": 0.0, "iteration": 0, "path": str(zero / f"metrics_{space}.json")} for space in exp.evaluation_embedders]
    accuracy = exp.evaluation.accuracy
    num_classes = len(exp.dataset.class_names)
    if accuracy["enabled"]:
        # the zero-privacy baseline: the random population alone, of the final population's size
        path = zero.parent / "accuracy.json"
        baseline = zero / "population.npz"
        if exp.final_size != exp.pe.num_samples:  # as the workflow's random_baseline
            baseline = zero.parent / "random_baseline.npz"
            timed("random_population", random_population, exp.api_options(), target, exp.final_size, exp.pe.seed, str(baseline), threads=1)
        timed("evaluate_accuracy", evaluate_accuracy, str(baseline), str(private / "heldout.npz"), num_classes, accuracy["epochs"], accuracy["seed"], str(path))
        entries.append({"epsilon": 0.0, "iteration": 0, "path": str(path)})
        for eps in exp.epsilon_labels:
            path = root / f"eps_{eps}" / "accuracy.json"
            timed("evaluate_accuracy", evaluate_accuracy, str(run_dir(eps, exp.pe.iterations) / "population.npz"), str(private / "heldout.npz"), num_classes, accuracy["epochs"], accuracy["seed"], str(path))
            entries.append({"epsilon": eps, "iteration": exp.pe.iterations, "path": str(path)})
        timed("evaluate_accuracy", evaluate_accuracy, str(private / "private.npz"), str(private / "heldout.npz"), num_classes, accuracy["epochs"], accuracy["seed"], str(root / "accuracy_ceiling.json"))
        entries.append({"epsilon": None, "iteration": None, "path": str(root / "accuracy_ceiling.json")})
    timed(
        "privacy_ledger", privacy_ledger, [str(root / f"eps_{eps}" / "privacy.json") for eps in exp.epsilon_labels], exp.name,
        str(ledger), str(root / "privacy_ledger.csv"), str(root / "privacy_draws.csv"), str(root / "privacy_spend.json"),
    )
    timed("collect_metrics", collect_metrics, exp.name, entries, str(root / "metrics.csv"))
    shown = sample_epsilons(exp.epsilon_labels)  # as the plot rule: no epsilon = inf images in a figure
    finals = {eps: str(run_dir(eps, exp.pe.iterations) / "population.npz") for eps in shown}
    T = exp.pe.iterations
    grids = {(eps, t): str(run_dir(eps, t) / "population.npz") for eps in shown for t in sorted({0, T // 2, T})}
    (root / "plots").mkdir(parents=True, exist_ok=True)
    timed(
        "plot", plot_all, str(root / "metrics.csv"), finals, grids, exp.dataset.class_names, exp.section("plot"), {name: str(root / "plots" / file) for name, file in PLOT_FILES.items()},
        exp.privacy.seed_mode,
    )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    experiments = load_config(yaml.safe_load((args.workdir / "config" / "config.yaml").read_text()))
    start = time.perf_counter()
    for exp in experiments.values():
        for stage, seconds in sorted(run_experiment(exp, args.workdir, args.threads).items()):
            print(f"{exp.name}\t{stage}\t{seconds:.2f}")
    print(f"total\t{time.perf_counter() - start:.2f}")


if __name__ == "__main__":
    main()
