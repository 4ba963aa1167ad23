"""The tidy metrics table and the figures of an experiment.

Metrics compare synthetic data with held-out REAL data, so they are not
differentially private: they are for reporting, and the table says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .contract import BASELINE_EPSILON
from .io import load_population, read_json, write_json
from .metrics import value_words

NON_PRIVATE_NOTE = "evaluation against held-out real data: not differentially private"
VOTE_SPACE_NOTE = "; computed in the vote's own feature space, which the vote optimised: it can flatter the vote"
# What epsilon = inf and the ceiling are: their files stay under private/; the table and the
# figures show their numbers (and the reference's samples) only with these words beside them.
REFERENCE_NOTE = "non-private reference computed from the private data without noise"
INF_NOTE = f"epsilon = inf (no noise): {REFERENCE_NOTE}; "
CEILING_NOTE = f"classifier trained on the real private set (ceiling): {REFERENCE_NOTE}; not differentially private"
# epsilon = 0 rows: what the simulator or model gives with no private data at all. The gain of a
# run over it is what the private vote adds.
# With pe.final_samples its accuracy is trained on RANDOM_API of the final size (random_baseline),
# which extends iteration 0's seeds: the synthetic_samples column tells each row's set size.
BASELINE_NOTE = "zero-privacy baseline: the random population (RANDOM_API: iteration 0, or as many samples as a final population for accuracy), made without private data; "
BASELINE_LABEL = "random population (ε = 0: no private data)"


def collect_metrics(experiment: str, entries: list[dict], output_path: str) -> None:
    """entries: {'epsilon': label or None, 'iteration': t or None, 'path': json}. One row per metric value.

    The row without epsilon is the accuracy ceiling (a classifier trained on the private set);
    it and the epsilon = inf rows are labelled as non-private references (REFERENCE_NOTE). Rows
    of epsilon = 0 (contract.BASELINE_EPSILON) are the zero-privacy baseline (BASELINE_NOTE).
    """
    import pandas as pd

    rows = []
    for entry in entries:
        ceiling = entry["epsilon"] is None
        note = CEILING_NOTE if ceiling else NON_PRIVATE_NOTE + (VOTE_SPACE_NOTE if entry.get("vote_space") else "")
        if not ceiling and math.isinf(float(entry["epsilon"])) and int(entry["iteration"]) > 0:
            note = INF_NOTE + note  # iteration 0 is the shared random population: no private data
        if not ceiling and float(entry["epsilon"]) == BASELINE_EPSILON:
            note = BASELINE_NOTE + note
        values = read_json(entry["path"])
        # the synthetic set a figure was computed on (the ceiling's training set is real: none)
        synthetic = None if ceiling else values.get("num_synthetic", values.get("num_train"))
        for metric, value in values.items():
            if metric.startswith("num_"):
                continue
            rows.append(
                {
                    "experiment": experiment,
                    "epsilon": math.nan if ceiling else float(entry["epsilon"]),
                    "iteration": pd.NA if ceiling else int(entry["iteration"]),
                    "metric": metric,
                    "value": float(value),
                    "features": entry.get("features", ""),
                    "synthetic_samples": pd.NA if synthetic is None else int(synthetic),
                    "note": note,
                }
            )
    table = pd.DataFrame(rows).astype({"iteration": "Int64", "synthetic_samples": "Int64"}).sort_values(["metric", "epsilon", "iteration"])
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output_path, index=False)


def privacy_ledger(
    privacy_paths: list[str],
    experiment: str,
    ledger_private: str,
    ledger_csv: str,
    draws_csv: str,
    spend_json: str,
    draw_paths: list[str] = (),
) -> None:
    """An experiment's view of its data set's privacy ledger (:mod:`private_evolution.ledger`).

    ``ledger_csv``: one row per run of the experiment (the privacy.json fields, no seed) with
    the number of noisy draws ever made for it. ``draws_csv``: every draw ever made from the
    data set, by any experiment (public fields only: no key, no seed id). ``spend_json``:
    the data set's composed cost (the headline), with this experiment's own beside it, as of now.
    ``draw_paths``: the experiment's draw.json files; a draw they name that the ledger lacks (the
    ledger was deleted or moved) stops the job: the spend would be understated.
    """
    import pandas as pd

    from .contract import DrawFields, SpendFields
    from .ledger import composition, current_spend, headline_relation, now, record_label, require_draws

    require_draws(ledger_private, [read_json(path)[DrawFields.KEY] for path in draw_paths])
    draws, spend = current_spend(ledger_private)  # composes the data set's spend if a vote left it pending
    mine = [d for d in draws if d[DrawFields.EXPERIMENT] == experiment]
    rows = []
    for path in privacy_paths:
        record = read_json(path)
        label = record_label(record["epsilon"])
        record["draws"] = sum(record_label(d[DrawFields.EPSILON]) == label for d in mine)
        rows.append(record)
    for path in (ledger_csv, draws_csv, spend_json):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(ledger_csv, index=False)
    public = list(DrawFields.PUBLIC)
    pd.DataFrame([{key: d.get(key) for key in public} for d in draws], columns=public).to_csv(draws_csv, index=False)
    # a snapshot, stale once anyone draws again: it does not claim to be current (as_of says when)
    spend = {key: value for key, value in spend.items() if key not in SpendFields.ALL}
    my_dp = [d for d in mine if d[DrawFields.DP] == "yes"]
    own = composition(my_dp, headline_relation(my_dp))
    spend["this_experiment"] = {
        "experiment": experiment,
        "dp_draws": len(my_dp),
        "composed_epsilon": own["epsilon"],
        "composed_delta": own["delta"],
        "note": "this experiment's draws alone: holds only for someone who sees no output of another experiment on the same data",
    }
    spend["data_ledger"] = str(Path(ledger_private).parent)
    spend["as_of"] = now()
    spend["note_as_of"] = (
        "the data set's ledger as of this job: draws made later, by another experiment on the same data (even in "
        "the same run), are not in it, and this file reruns on the next run after they were drawn; the data set's "
        "own privacy_spend.json says whether it composes every draw recorded (up_to_date)"
    )
    write_json(spend_json, spend)


def _features_in_words(name: str) -> tuple[str, str]:
    """An embedder's space in words, and a note on it (may be empty)."""
    from .embedders import REGISTRY

    if name not in REGISTRY:
        return name, ""
    space = REGISTRY.get(name)
    return space.label or name, space.label_detail


def _metric_words(metric: str) -> str:
    """A metric id in words, for titles: 'Fréchet distance in pixel features'."""
    found = value_words(metric)
    if found is None:
        return metric
    words, space, _ = found
    label, detail = _features_in_words(space)
    return f"{words} in {label} features" + (f" ({detail})" if detail else "")


def _metric_label(metric: str) -> str:
    """A metric id as an axis label, with its direction."""
    found = value_words(metric)
    if found is None:
        return metric
    words, space, lower_is_better = found
    space_words, _ = _features_in_words(space)
    return f"{words}, {space_words} features\n({'lower' if lower_is_better else 'higher'} is better)"


def _is_distance(metric: str) -> bool:
    from .metrics import metric_class

    prefixes = metric_class("frechet_distance").values
    return any(metric.startswith(prefix + "_") for prefix in prefixes)


def _epsilon_axis(axis, epsilons) -> None:
    """A log epsilon axis labelled once at each configured epsilon (no minor-tick labels)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axis.set_xscale("log")
    values = sorted(set(float(e) for e in epsilons))
    axis.xaxis.set_major_locator(FixedLocator(values))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.xaxis.set_minor_locator(NullLocator())


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (jobs have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, figure, output_path: str, dpi: int, note: str | None = None) -> None:
    """``note``: one line or more, written small at the bottom of the figure."""
    if note:
        figure.text(0.01, 0.01, note, fontsize=6, color="grey", va="bottom")
    lines = note.count("\n") + 1 if note else 0
    figure.tight_layout(rect=(0, min(0.03 * lines, 0.2), 1, 1))
    figure.savefig(output_path, dpi=dpi)
    plt.close(figure)


def _epsilon_text(epsilon: float) -> str:
    return "ε = ∞ (no noise: non-private reference)" if math.isinf(epsilon) else f"ε = {epsilon:g}"


def _with_reference_note(note: str, shows_reference: bool, shows_ceiling: bool = False) -> str:
    """A figure's note, with a line saying what ε = ∞ and the ceiling are when it shows them."""
    if shows_reference and shows_ceiling:
        return f"{note}\nε = ∞ and the ceiling: non-private references computed from the private data without noise"
    if shows_reference or shows_ceiling:
        return f"{note}\n{'ε = ∞' if shows_reference else 'the ceiling'}: a {REFERENCE_NOTE}"
    return note


def _short_dp_note(seed_mode: str) -> str:
    if seed_mode == "public":
        return "NOT DP: noise seed is public (privacy.seed_mode: public)"
    return "finite ε: DP (secret noise seed)"


def _shows_reference(epsilons) -> bool:
    return any(math.isinf(float(epsilon)) for epsilon in epsilons)


def sample_epsilons(labels: list[str]) -> list[str]:
    """The epsilons (labels) whose samples the public sample grids show: the finite ones. The
    epsilon = inf run's images come from un-noised votes: they stay under private/, out of every
    public figure (the plot rule's inputs, and the in-process benchmark's figures alike)."""
    return [label for label in labels if not math.isinf(float(label))]


def plot_metric_vs_epsilon(table, metrics: list[str], output_path: str, dpi: int, vote_metric: str | None = None) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.6), squeeze=False)
    for metric, axis in zip(metrics, axes[0]):
        _metric_vs_epsilon_panel(table, metric, axis, vote_space=metric == vote_metric)
    shown = table[table.metric.isin(metrics)].epsilon.dropna()
    _save(plt, figure, output_path, dpi, note=_with_reference_note(NON_PRIVATE_NOTE, _shows_reference(shown)))


def _metric_vs_epsilon_panel(table, metric: str, axis, vote_space: bool = False) -> None:
    metric_rows = table[table.metric == metric]
    rows = _runs(metric_rows)
    last = rows[rows.iteration == rows.iteration.max()]
    finite = last[np.isfinite(last.epsilon)].sort_values("epsilon")
    axis.plot(finite.epsilon, finite.value, "o-", label=f"after T = {int(rows.iteration.max())} iterations")
    for value in last[~np.isfinite(last.epsilon)].value:
        axis.axhline(value, color="C2", linestyle="--", label=_epsilon_text(math.inf))
    for value in _baseline(metric_rows).value:
        axis.axhline(value, color="grey", linestyle=":", label=BASELINE_LABEL)
    if len(finite):
        _epsilon_axis(axis, finite.epsilon)
    axis.set_xlabel("privacy budget ε (δ fixed)")
    axis.set_ylabel(_metric_label(metric))
    title = f"{rows.experiment.iloc[0]}: {_metric_words(metric)} vs ε".replace(" features (", " features\n(")
    if vote_space:
        title += "\n(the vote's own feature space: it can flatter the vote)"
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16))  # below: the reference lines span the plot
    axis.grid(alpha=0.3)


def _runs(rows):
    """The rows of the runs' epsilons (finite and inf): neither the ceiling nor the baseline."""
    return rows[rows.epsilon.notna() & (rows.epsilon != BASELINE_EPSILON)]


def _baseline(rows):
    """The zero-privacy baseline's rows (epsilon = 0: the random population, no private data)."""
    return rows[rows.epsilon == BASELINE_EPSILON]


def plot_metric_vs_iteration(table, metric: str, output_path: str, dpi: int) -> None:
    plt = _pyplot()
    rows = _runs(table[table.metric == metric])
    figure, axis = plt.subplots(figsize=(5.5, 4))
    skipped = False
    for epsilon, curve in rows.groupby("epsilon", sort=True):
        curve = curve.sort_values("iteration")
        # a solid line across iterations that were not measured would read as their values
        gaps = bool((np.diff(curve.iteration.to_numpy()) > 1).any())
        axis.plot(curve.iteration, curve.value, "o:" if gaps else "o-", markersize=3, label=_epsilon_text(epsilon))
        skipped |= gaps
    axis.set_xlabel("PE iteration t")
    axis.set_ylabel(_metric_label(metric))
    axis.set_title(f"{rows.experiment.iloc[0]}: {_metric_words(metric)} vs iteration".replace(" features (", " features\n("), fontsize=9)
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    note = _with_reference_note(NON_PRIVATE_NOTE, _shows_reference(rows.epsilon))
    if skipped:
        note += "\ndotted: iterations between the points were not measured (evaluation.iterations: final; all measures each)"
    _save(plt, figure, output_path, dpi, note=note)


def sample_grid(images: np.ndarray, labels: np.ndarray, num_classes: int, per_class: int) -> np.ndarray:
    """A (classes x per_class) mosaic of the first samples of each class; blank where a class has fewer."""
    height, width, channels = images.shape[1:]
    mosaic = np.zeros((num_classes * height, per_class * width, channels), dtype=np.uint8)
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)[:per_class]
        for column, index in enumerate(members):
            mosaic[label * height : (label + 1) * height, column * width : (column + 1) * width] = images[index]
    return mosaic


def _class_ticks(axis, class_names: list[str], cell: int, along: str, inches: float) -> None:
    """Class names at the centre of each class's row (``along="y"``) or column (``"x"``) of an
    image axis, ``cell`` pixels each; ``inches``: the length of that side of the axis, so that
    many classes get a smaller font instead of overlapping names."""
    positions = [cell * (i + 0.5) - 0.5 for i in range(len(class_names))]
    size = max(3.0, min(7.0, 0.8 * 72 * inches / max(len(class_names), 1)))
    names = [name if len(name) <= 18 else name[:17] + "…" for name in class_names]
    if along == "y":
        axis.set_yticks(positions, names, fontsize=size)
    else:
        axis.set_xticks(positions, names, fontsize=size, rotation=90)
    axis.tick_params(length=0, pad=2)


SAMPLE_PANELS_PER_ROW = 3  # epsilons side by side; more wrap to another row of panels
SAMPLE_PANEL_WIDTH = 2.8  # inches: 8 samples of 28 pixels take about 80 pixels per inch at 100 dpi


def _no_samples(plt, output_path: str, dpi: int, note: str | None) -> None:
    """The sample figure of an experiment without a finite epsilon: the epsilon = inf run's images
    come from un-noised votes and stay under private/, so there is nothing to show."""
    figure, axis = plt.subplots(figsize=(5, 1.6))
    axis.axis("off")
    axis.text(0.5, 0.5, "no finite epsilon: no DP samples to show\n(the epsilon = inf run's images stay under private/)",
              ha="center", va="center", fontsize=9)
    _save(plt, figure, output_path, dpi, note=note)


def plot_samples(
    finals: dict[str, str], class_names: list[str], per_class: int, output_path: str, dpi: int, dp_note: str | None = None
) -> None:
    """One panel per epsilon, at most three to a row of panels, rows of each panel the classes
    (named on the left of each row's first panel)."""
    plt = _pyplot()
    if not finals:
        _no_samples(plt, output_path, dpi, dp_note)
        return
    label_room = min(1.6, 0.15 + 0.055 * max((len(name) for name in class_names), default=1))
    columns = min(SAMPLE_PANELS_PER_ROW, max(len(finals), 1))
    rows = -(-len(finals) // columns)
    # a panel as tall as its mosaic (classes x samples) at the panel's width, within limits
    panel_height = min(6.0, max(1.6, SAMPLE_PANEL_WIDTH * len(class_names) / max(per_class, 1)))
    title_room = 0.65
    figure, axes = plt.subplots(
        rows, columns, figsize=(SAMPLE_PANEL_WIDTH * columns + label_room, rows * (panel_height + title_room) + 0.5), squeeze=False
    )
    for axis in axes.flat[len(finals) :]:
        axis.set_visible(False)
    for index, (axis, (label, path)) in enumerate(zip(axes.flat, finals.items())):
        population = load_population(path)
        mosaic = sample_grid(population.images, population.labels, len(class_names), per_class)
        axis.imshow(mosaic.squeeze(-1) if mosaic.shape[-1] == 1 else mosaic, cmap="gray", vmin=0, vmax=255)
        axis.set_title(_epsilon_text(float(label)).replace(" (", "\n(").replace(": ", ":\n"), fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
        if index % columns == 0:
            _class_ticks(axis, class_names, population.images.shape[1], "y", panel_height)
        for spine in axis.spines.values():  # no frame: the mosaic's edge is the images' own
            spine.set_visible(False)
    figure.suptitle("final synthetic samples (rows: classes)", fontsize=10)
    _save(plt, figure, output_path, dpi, note=dp_note)


def accuracy_axis_range(values, margin: float = 0.02, step: float = 0.05) -> tuple[float, float]:
    """The accuracy axis: from just under the lowest line to just over the highest, on multiples of
    ``step``, within [0, 1]. On 0 to 1 the lines of a good run (0.85 to 0.96) crowd into a tenth of
    the plot, and a gain of 0.03 over the baseline cannot be seen."""
    finite = [float(v) for v in values if np.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low = max(0.0, math.floor(round((min(finite) - margin) / step, 6)) * step)
    high = min(1.0, math.ceil(round((max(finite) + margin) / step, 6)) * step)
    return low, max(high, low + step)


def plot_accuracy_vs_epsilon(table, output_path: str, dpi: int) -> None:
    plt = _pyplot()
    rows = table[table.metric == "accuracy_cnn"]
    figure, axis = plt.subplots(figsize=(5.5, 5))
    synthetic = _runs(rows)
    finite = synthetic[np.isfinite(synthetic.epsilon)].sort_values("epsilon")
    if len(rows) == 0:
        axis.text(0.5, 0.5, "accuracy disabled (evaluation.accuracy.enabled)", ha="center", transform=axis.transAxes)
    if len(finite):
        axis.plot(finite.epsilon, finite.value, "o-", label="trained on synthetic")
        _epsilon_axis(axis, finite.epsilon)
    for value in synthetic[~np.isfinite(synthetic.epsilon)].value:
        axis.axhline(value, color="C2", linestyle="--", label="synthetic, " + _epsilon_text(math.inf))
    for value in _baseline(rows).value:
        axis.axhline(value, color="grey", linestyle=":", label="synthetic, " + BASELINE_LABEL)
    for value in rows[rows.epsilon.isna()].value:
        axis.axhline(value, color="black", linestyle=":", label="trained on the real private set (ceiling: non-private reference)")
    axis.set_xlabel("privacy budget ε (δ fixed)")
    axis.set_ylabel("test accuracy on held-out real images")
    axis.set_ylim(*accuracy_axis_range(rows.value))
    axis.set_title("accuracy of a CNN trained on the synthetic images vs ε", fontsize=10)
    if len(rows):  # below the plot: the reference lines span its width, so a legend inside hides one
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    axis.grid(alpha=0.3)
    note = _with_reference_note(NON_PRIVATE_NOTE, _shows_reference(synthetic.epsilon), rows.epsilon.isna().any())
    _save(plt, figure, output_path, dpi, note=note)


def plot_samples_by_iteration(grids: dict, class_names: list[str], output_path: str, dpi: int, dp_note: str | None = None) -> None:
    """Rows: epsilons; columns: iterations; each panel one sample per class."""
    plt = _pyplot()
    if not grids:
        _no_samples(plt, output_path, dpi, dp_note)
        return
    epsilons = list(dict.fromkeys(eps for eps, _ in grids))
    iterations = list(dict.fromkeys(t for _, t in grids))
    names_room = min(1.2, 0.1 + 0.06 * max((len(name) for name in class_names), default=1))
    figure, axes = plt.subplots(
        len(epsilons), len(iterations), figsize=(2.8 * len(iterations) + 1.2, 0.55 * len(epsilons) + 0.8 + names_room),
        squeeze=False,
    )
    for row, eps in enumerate(epsilons):
        for column, t in enumerate(iterations):
            population = load_population(grids[(eps, t)])
            column_of_classes = sample_grid(population.images, population.labels, len(class_names), 1)
            height, width, channels = population.images.shape[1:]
            strip = (
                column_of_classes.reshape(len(class_names), height, width, channels)
                .transpose(1, 0, 2, 3)
                .reshape(height, len(class_names) * width, channels)
            )
            axis = axes[row][column]
            axis.imshow(strip.squeeze(-1) if channels == 1 else strip, cmap="gray", vmin=0, vmax=255)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == len(epsilons) - 1:  # the classes named under the bottom row's panels
                _class_ticks(axis, class_names, width, "x", 2.8)
            if row == 0:
                axis.set_title(f"t = {t}", fontsize=9)
            if column == 0:
                axis.set_ylabel(_epsilon_text(float(eps)).replace(" (", "\n("), fontsize=8, rotation=0, ha="right", va="center")
    figure.suptitle("samples by iteration (one per class, named below)", fontsize=9)
    _save(plt, figure, output_path, dpi, note=dp_note)


def _distance_of(embedder: str | None) -> str | None:
    from .embedders import REGISTRY
    from .metrics import distance_id

    return distance_id(REGISTRY.get(embedder)) if embedder and embedder in REGISTRY else None


def ordered_distances(available: list[str], headline: str | None, vote_embedder: str | None) -> list[str]:
    """The headline space first, then the other spaces the vote did not use, the vote's own last."""
    vote_metric = _distance_of(vote_embedder)
    headline_metric = _distance_of(headline)
    first = [headline_metric] if headline_metric in available else []
    others = sorted(m for m in available if m not in first and m != vote_metric)
    return first + others + ([vote_metric] if vote_metric in available and vote_metric not in first else [])


# The figures of an experiment: plot_all's outputs, by the names the plot rule gives them.
PLOT_FILES = {
    "fd_vs_epsilon": "fd_vs_epsilon.png",
    "fd_vs_iteration": "fd_vs_iteration.png",
    "accuracy_vs_epsilon": "accuracy_vs_epsilon.png",
    "samples": "samples.png",
    "samples_by_iteration": "samples_by_iteration.png",
}


def plot_all(
    metrics_csv: str,
    finals: dict[str, str],
    grids: dict,
    class_names: list[str],
    plot_cfg: dict,
    outputs: dict[str, str],
    seed_mode: str = "secret",
    headline: str | None = None,
    vote_embedder: str | None = None,
) -> None:
    """Every figure: ``outputs`` maps each name of :data:`PLOT_FILES` to the file to write."""
    import pandas as pd

    table = pd.read_csv(metrics_csv)
    available = [m for m in table.metric.unique() if _is_distance(m)]
    distances = ordered_distances(available, headline, vote_embedder)
    vote_metric = _distance_of(vote_embedder)
    plot_metric_vs_epsilon(table, distances, outputs["fd_vs_epsilon"], plot_cfg["dpi"], vote_metric=vote_metric)
    plot_metric_vs_iteration(table, distances[0], outputs["fd_vs_iteration"], plot_cfg["dpi"])
    plot_accuracy_vs_epsilon(table, outputs["accuracy_vs_epsilon"], plot_cfg["dpi"])
    note = _short_dp_note(seed_mode)
    plot_samples(finals, class_names, plot_cfg["samples_per_class"], outputs["samples"], plot_cfg["dpi"], note)
    plot_samples_by_iteration(grids, class_names, outputs["samples_by_iteration"], plot_cfg["dpi"], note)
