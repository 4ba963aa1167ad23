"""A cheaper judge, same verdict: the downstream CNN's previous training against the current one.
Writes benchmarks/JUDGE.md.

    python benchmarks/judge.py                # 3 PE seeds x the default sweep (10 min on 2 cores), judging (30 min)
    python benchmarks/judge.py --candidates   # also the recipes tried, on the validation part (25 min more)
    python benchmarks/judge.py --quick        # a smoke test of the script

The final synthetic populations of the default config (config/config.yaml) for each PE seed
and epsilon come from the real stage functions in one process (benchmarks/inprocess.py), with
accuracy evaluation off and a public noise seed equal to the PE seed (reproducible; DP does
not matter here). They stay in the work folder (default /tmp/pe_judge), and so does their
judging: a rerun judges only what is new.

Each population is judged by the previous training (``train_previous`` below, kept verbatim),
by the current one (``private_evolution.classifier.train_classifier``) and, as the yardstick, by
the previous one with another training seed: on the same data in the same process, in rotating
order. A judge trains once per population and is tested on the validation part (for tuning) and
on the test part (reported). The ceiling: each trained on the private set (4,000 real digits).
Training time: one thread, wall and thread CPU seconds, medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

PARTS = ("validation", "test")


def build_previous(channels: int, image_size: int, num_classes: int):
    """The previous layer order (ReLU before pooling): the same function as build_cnn's."""
    import torch.nn as nn

    side = image_size // 4
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def train_previous(images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 10, seed: int = 0, batch_size: int = 64):
    """The judge before this benchmark: Adam 1e-3, batch 64, 10 epochs, a batch gathered per step."""
    import torch

    from private_evolution.classifier import _tensor

    torch.manual_seed(seed)
    model = build_previous(images.shape[-1], images.shape[1], num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _tensor(images), torch.from_numpy(labels.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), batch_size):
            ids = order[begin : begin + batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[ids]), y[ids])
            loss.backward()
            optimizer.step()
    return model.eval()


def train_current(images: np.ndarray, labels: np.ndarray, num_classes: int, **kwargs):
    from private_evolution.classifier import train_classifier

    return train_classifier(images, labels, num_classes, **kwargs)


# Recipes tried for the current judge (--candidates), scored on the validation part only. Each
# keeps build_cnn, the seed's initialisation and batch order; "6 epochs" misses the time target.
CANDIDATES = {
    "5 epochs, Adam 1e-3": {"epochs": 5, "learning_rate": 1e-3},
    "5 epochs, Adam 1.5e-3 (the current)": {"epochs": 5, "learning_rate": 1.5e-3},
    "5 epochs, Adam 2e-3": {"epochs": 5, "learning_rate": 2e-3},
    "5 epochs, Adam 2e-3, cosine decay to 0": {"epochs": 5, "learning_rate": 2e-3, "schedule": "cosine"},
    "5 epochs, one cycle to 3e-3": {"epochs": 5, "learning_rate": 3e-3, "schedule": "onecycle"},
    "6 epochs, Adam 1.5e-3": {"epochs": 6, "learning_rate": 1.5e-3},
}


def train_recipe(images, labels, num_classes: int, epochs: int, seed: int = 0, batch_size: int = 64,
                 learning_rate: float = 1e-3, schedule: str = "constant"):
    """train_classifier's loop with a learning-rate schedule per step (constant: train_classifier itself)."""
    import math

    import torch

    from private_evolution.classifier import _tensor, build_cnn, single_thread, train_classifier

    if schedule == "constant":
        return train_classifier(images, labels, num_classes, epochs=epochs, seed=seed, batch_size=batch_size, learning_rate=learning_rate)
    x, y = _tensor(images).contiguous(), torch.from_numpy(labels.astype(np.int64))
    steps = epochs * math.ceil(len(x) / batch_size)
    with single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_cnn(images.shape[-1], images.shape[1], num_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        if schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
        else:
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate, total_steps=steps)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            shuffled_x, shuffled_y = x[order], y[order]
            for begin in range(0, len(x), batch_size):
                optimizer.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(shuffled_x[begin : begin + batch_size]), shuffled_y[begin : begin + batch_size]).backward()
                optimizer.step()
                scheduler.step()
    return model.eval()


def default_config(seed: int, quick: bool) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["experiments"]["default"]
    config["pe"]["seed"] = seed
    config["privacy"]["seed_mode"] = "public"
    config["privacy"]["seed"] = seed
    config["evaluation"] = {**config.get("evaluation", {}), "accuracy": {"enabled": False}}
    if quick:
        config["pe"].update(iterations=1, num_samples=200)
        config["privacy"]["epsilons"] = [1, "inf"]
    return config


def split(workdir: Path) -> dict[str, dict]:
    """The private set, the test part and the validation part of the default config."""
    from private_evolution.config import load_config
    from private_evolution.io import load_npz
    from private_evolution.stages.prepare_private import prepare_private

    folder = workdir / "split"
    paths = {name: folder / f"{name}.npz" for name in ("private", "test", "validation")}
    if not all(path.exists() for path in paths.values()):
        exp = load_config({"experiments": {"judge": default_config(0, False)}})["judge"]
        folder.mkdir(parents=True, exist_ok=True)
        prepare_private(exp.section("dataset"), *(str(paths[name]) for name in ("private", "test", "validation")))
    return {name: load_npz(path) for name, path in paths.items()}


def populations(workdir: Path, seeds: int, quick: bool) -> dict[tuple[int, str], Path]:
    """(PE seed, epsilon label) -> the final population's npz; runs PE where they are missing."""
    from inprocess import run_experiment

    from private_evolution.config import load_config

    finals = {}
    for seed in range(seeds):
        exp = load_config({"experiments": {"judge": default_config(seed, quick)}})["judge"]
        folder = workdir / f"seed_{seed}"
        paths = {
            (seed, label): folder / "results" / "judge" / f"eps_{label}" / f"iter_{exp.pe.iterations}" / "population.npz"
            for label in exp.epsilon_labels
        }
        if not all(path.exists() for path in paths.values()):
            start = time.perf_counter()
            run_experiment(exp, folder)
            (folder / "made_at.txt").write_text(commit() + "\n")
            print(json.dumps({"pe_seed": seed, "seconds": round(time.perf_counter() - start)}), flush=True)
        finals.update(paths)
    return finals


def commit() -> str:
    """The checkout's commit (with "+ changes" when the tree differs from it)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" + changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def made_at(finals: dict) -> str:
    stamps = {(path.parents[4] / "made_at.txt") for path in finals.values()}
    texts = sorted({stamp.read_text().strip() for stamp in stamps if stamp.exists()})
    return ", ".join(texts) or "unknown"


def judged(train, seed: int, images, labels, parts: dict, epochs: int | None) -> dict:
    """Train with ``train`` (one thread), test on every part: the accuracies, the training's wall
    seconds and its thread CPU seconds (steadier than wall time on a shared machine)."""
    import torch

    from private_evolution.classifier import accuracy, single_thread

    with single_thread():
        start, cpu = time.perf_counter(), time.thread_time()
        model = train(images, labels.astype(np.int64), 10, seed=seed, **({} if epochs is None else {"epochs": epochs}))
        seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu
        assert torch.get_num_threads() == 1
    scores = {part: accuracy(model, data["images"], data["labels"].astype(np.int64)) for part, data in parts.items()}
    return {**scores, "seconds": seconds, "cpu_seconds": cpu, "num_train": len(images)}


# name -> (training, its seed). "previous, seed 1" is the yardstick: how far the previous judge
# moves when only its own training seed changes.
JUDGES = {"previous": (train_previous, 0), "current": (train_current, 0), "previous, seed 1": (train_previous, 1)}


def judge_all(finals: dict, data: dict, epochs: int | None) -> dict:
    from private_evolution.io import load_npz

    parts = {part: data[part] for part in PARTS}
    sets = {key: load_npz(path) for key, path in finals.items()}
    sets[(None, "ceiling")] = data["private"]
    warm = data["validation"]  # one short run of each first: the first training in a process pays start-up costs
    for train, seed in JUDGES.values():
        judged(train, seed, warm["images"][:128], warm["labels"][:128], {}, 1)
    results = {}
    for index, (key, population) in enumerate(sets.items()):
        # rotate which judge goes first, so none always follows the same one
        order = list(JUDGES)[index % len(JUDGES) :] + list(JUDGES)[: index % len(JUDGES)]
        results[key] = {name: judged(*JUDGES[name], population["images"], population["labels"], parts, epochs) for name in order}
        print(json.dumps({"set": list(map(str, key)), **results[key]}), flush=True)
    return results


def mean_sd(values: list[float], signed: bool = False) -> str:
    sign = "+" if signed else ""
    if len(values) < 2:
        return f"{values[0]:{sign}.3f}"
    return f"{statistics.mean(values):{sign}.3f} ± {statistics.stdev(values):.3f}"


def kendall_tau(first: dict[str, float], second: dict[str, float]) -> float:
    """Rank agreement of two judges' epsilon means: 1 = the same order."""
    from scipy.stats import kendalltau

    labels = list(first)
    return float(kendalltau([first[label] for label in labels], [second[label] for label in labels]).statistic)


def part_section(results: dict, part: str, labels: list[str], seeds: list[int]) -> list[str]:
    names = list(JUDGES)
    lines = [
        f"## {part.capitalize()} part",
        "",
        "| ε | previous | current | current − previous (paired) | previous: seed 1 − seed 0 (paired) |",
        "|---|---:|---:|---:|---:|",
    ]
    means = {name: {} for name in names}
    spreads, current_gaps, own_gaps = [], [], []
    for label in labels:
        row = {name: [results[(seed, label)][name][part] for seed in seeds] for name in names}
        for name in names:
            means[name][label] = statistics.mean(row[name])
        paired = [c - p for p, c in zip(row["previous"], row["current"])]
        own = [q - p for p, q in zip(row["previous"], row["previous, seed 1"])]
        if len(seeds) > 1:
            spreads.append(statistics.stdev(row["previous"]))
        current_gaps.append(abs(statistics.mean(paired)))
        own_gaps.append(abs(statistics.mean(own)))
        lines.append(f"| {label} | {mean_sd(row['previous'])} | {mean_sd(row['current'])} | {mean_sd(paired, True)} | {mean_sd(own, True)} |")
    ceiling = results[(None, "ceiling")]
    lines += [
        f"| ceiling (private set, {ceiling['previous']['num_train']:,} real digits) | {ceiling['previous'][part]:.3f} "
        f"| {ceiling['current'][part]:.3f} | {ceiling['current'][part] - ceiling['previous'][part]:+.3f} "
        f"| {ceiling['previous, seed 1'][part] - ceiling['previous'][part]:+.3f} |",
        "",
        f"Epsilons by mean accuracy, best first: previous {', '.join(sorted(labels, key=means['previous'].get, reverse=True))}; "
        f"current {', '.join(sorted(labels, key=means['current'].get, reverse=True))}; previous with seed 1 "
        f"{', '.join(sorted(labels, key=means['previous, seed 1'].get, reverse=True))}. Kendall's τ with the previous order: "
        f"current {kendall_tau(means['previous'], means['current']):.2f}, previous with seed 1 "
        f"{kendall_tau(means['previous'], means['previous, seed 1']):.2f}.",
        "",
    ]
    if spreads:
        lines += [
            f"Mean paired difference, largest |·| over ε: current {max(current_gaps):.3f}, previous with seed 1 {max(own_gaps):.3f}; "
            f"the previous judge's spread over PE seeds (sd, mean over ε): {statistics.mean(spreads):.3f}.",
            "",
        ]
    return lines


def judge_candidates(finals: dict, data: dict, results: dict) -> dict:
    """Validation accuracy and CPU seconds of every candidate recipe on every synthetic population
    (the current recipe's from the judging above)."""
    import functools

    from private_evolution import classifier
    from private_evolution.io import load_npz

    current = {"epochs": classifier.EPOCHS, "learning_rate": classifier.LEARNING_RATE}
    parts = {"validation": data["validation"]}
    scores = {}
    for key, path in finals.items():
        population = load_npz(path)
        for name, recipe in CANDIDATES.items():
            if recipe == current and classifier.BATCH_SIZE == 64:
                scores.setdefault(name, {})[key] = results[key]["current"]
                continue
            train = functools.partial(train_recipe, **recipe)
            scores.setdefault(name, {})[key] = judged(train, 0, population["images"], population["labels"], parts, None)
        print(json.dumps({"set": list(map(str, key)), **{name: scores[name][key]["validation"] for name in scores}}), flush=True)
    return scores


def candidates_section(candidates: dict, results: dict, labels: list[str]) -> list[str]:
    keys = [key for key in results if key[0] is not None]
    seeds = sorted({seed for seed, _ in keys})
    previous = {key: results[key]["previous"]["validation"] for key in keys}
    previous_cpu = statistics.median(results[key]["previous"]["cpu_seconds"] for key in keys)
    rows = {"previous, seed 1 (the yardstick)": {key: results[key]["previous, seed 1"] for key in keys}, **candidates}
    lines = [
        "## How the current settings were chosen (validation part only)",
        "",
        "Each recipe against the previous judge on the validation part of every population above: the root mean square and"
        " the mean of the paired differences, the mean difference at the lowest ε and at ε = ∞ (does it keep the spread"
        " between them?), Kendall's τ between the two judges' epsilon means, and the median training CPU seconds relative"
        " to the previous judge's. The choice: the smallest paired differences among the recipes under half the time.",
        "",
        f"| recipe | rms | mean | at ε = {labels[0]} | at ε = {labels[-1]} | τ | CPU time / previous |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    previous_means = {label: statistics.mean(previous[(seed, label)] for seed in seeds) for label in labels}
    for name, scored in rows.items():
        differences = {key: scored[key]["validation"] - previous[key] for key in keys}
        at = {label: statistics.mean(differences[(seed, label)] for seed in seeds) for label in (labels[0], labels[-1])}
        means = {label: statistics.mean(scored[(seed, label)]["validation"] for seed in seeds) for label in labels}
        cpu = statistics.median(scored[key]["cpu_seconds"] for key in keys) / previous_cpu
        lines.append(
            f"| {name} | {statistics.mean(d * d for d in differences.values()) ** 0.5:.3f} | {statistics.mean(differences.values()):+.3f} "
            f"| {at[labels[0]]:+.3f} | {at[labels[-1]]:+.3f} | {kendall_tau(previous_means, means):.2f} | {cpu:.2f} |"
        )
    return lines + [""]


HAND_WRITTEN = "## The choice, and what the tables say (written by hand)\n"


def write_report(
    path: Path, results: dict, settings: str, started: float, quick: bool, populations_commit: str, candidates: dict | None = None,
) -> None:
    labels = list(dict.fromkeys(label for (seed, label) in results if seed is not None))
    seeds = sorted({seed for (seed, _) in results if seed is not None})
    lines = [
        "# A cheaper judge, same verdict",
        "",
        f"Made by `python benchmarks/judge.py{' --quick' if quick else ''}` in {(time.time() - started) / 60:.0f} minutes on "
        f"{__import__('os').cpu_count()} cores ({time.strftime('%Y-%m-%d')}). The downstream-accuracy CNN "
        "(2 conv + 2 dense layers, one thread, seeded) trained the previous way (Adam 1e-3, batch 64, 10 epochs) and the "
        f"current way ({settings}) on the same final synthetic populations: {len(seeds)} PE seeds of the default config, "
        f"every epsilon, public noise seed = PE seed (made at commit {populations_commit}). Accuracy on the validation part (500 real digits; anything tuned is "
        "tuned on it) and on the test part (500; reported). Cells: mean ± standard deviation over the PE seeds; differences "
        "are paired per PE seed. The last column is the yardstick: the previous judge against itself with another training "
        "seed.",
        "",
    ]
    for part in PARTS:
        lines += part_section(results, part, labels, seeds)
    synthetic = [key for key in results if key[0] is not None]
    ceiling = results[(None, "ceiling")]
    lines += [
        "## Training time (one thread, same process, rotating order)",
        "",
        "Medians over the synthetic populations; wall seconds and the training thread's CPU seconds (steadier when the"
        " machine is shared).",
        "",
        "| training set | clock | previous (s) | current (s) | current / previous |",
        "|---|---|---:|---:|---:|",
    ]
    for clock, field in (("wall", "seconds"), ("CPU", "cpu_seconds")):
        median = {name: statistics.median(results[key][name][field] for key in synthetic) for name in ("previous", "current")}
        lines.append(
            f"| {len(synthetic)} synthetic sets ({results[synthetic[0]]['previous']['num_train']:,} images each) | {clock} "
            f"| {median['previous']:.2f} | {median['current']:.2f} | {median['current'] / median['previous']:.2f} |"
        )
    for clock, field in (("wall", "seconds"), ("CPU", "cpu_seconds")):
        lines.append(
            f"| private set ({ceiling['previous']['num_train']:,} images, the ceiling) | {clock} | {ceiling['previous'][field]:.2f} "
            f"| {ceiling['current'][field]:.2f} | {ceiling['current'][field] / ceiling['previous'][field]:.2f} |"
        )
    lines.append("")
    if candidates:
        lines += candidates_section(candidates, results, labels)
    # the hand-written reading of the tables, kept across reruns (to be checked against the new figures)
    notes = path.read_text().partition(HAND_WRITTEN)[2] if path.exists() else ""
    path.write_text("\n".join(lines) + "\n" + (HAND_WRITTEN + notes if notes else ""))


def settings_text() -> str:
    from private_evolution import classifier

    return (
        f"Adam {classifier.LEARNING_RATE:g}, batch {classifier.BATCH_SIZE}, {classifier.EPOCHS} epochs, each ReLU after "
        "its pooling"
    )


def encode(key: tuple) -> str:
    return json.dumps(list(key))


def decode(text: str) -> tuple:
    return tuple(json.loads(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny PE runs, one judging epoch: checks the script works")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pe_judge"))
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "JUDGE.md")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--populations-only", action="store_true", help="make the populations, judge nothing")
    parser.add_argument("--candidates", action="store_true", help="also score CANDIDATES on the validation part (about 20 min)")
    parser.add_argument("--rejudge", action="store_true", help="judge again even where the work folder holds this judging")
    args = parser.parse_args()
    started = time.time()
    workdir = args.workdir / "quick" if args.quick else args.workdir
    data = split(workdir)
    finals = populations(workdir, 1 if args.quick else args.seeds, args.quick)
    if args.populations_only:
        return
    settings = settings_text()
    cache = workdir / "judged.json"  # the judging of these populations with these settings, for --candidates reruns
    stored = json.loads(cache.read_text()) if cache.exists() and not args.rejudge else {}
    if stored.get("settings") == settings and stored.get("populations") == made_at(finals):
        results = {decode(key): value for key, value in stored["results"].items()}
        print(f"judging of {made_at(finals)} with {settings} from {cache}")
    else:
        results = judge_all(finals, data, 1 if args.quick else None)
        cache.write_text(json.dumps({"settings": settings, "populations": made_at(finals), "results": {encode(key): value for key, value in results.items()}}))
    candidates = judge_candidates(finals, data, results) if args.candidates else None
    write_report(args.output, results, settings, started, args.quick, made_at(finals), candidates)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
