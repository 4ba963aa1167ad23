"""Evaluation that cannot flatter the vote: feature spaces independent of the vote's, a
validation part for choosing (and for the classifier space) and a test part for reporting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from private_evolution import PEError
from private_evolution.audit import dry_run_jobs, job_privacy_violations
from private_evolution.config import load_config
from private_evolution.datasets import split_indices
from private_evolution.report import ordered_distances
from workflow_helpers import copy_repository, snakemake, tiny_config, write_config


def experiment(**sections):
    return load_config({"experiments": {"x": sections}})["x"]


def test_default_spaces_put_one_the_vote_did_not_use_first():
    with_validation = experiment(dataset={"num_heldout": 500, "num_validation": 500})
    assert with_validation.evaluation_embedders == ["classifier", "effnet_lite0"]
    assert with_validation.headline_embedder == "classifier"
    without = experiment()
    assert without.evaluation_embedders == ["effnet_lite0"] and without.headline_embedder == "effnet_lite0"
    listed = experiment(evaluation={"embedders": ["effnet_lite0", "inception", "classifier"]}, dataset={"num_heldout": 500, "num_validation": 500})
    assert listed.headline_embedder == "inception"  # clean-fid's FID whenever it is configured
    pixels = experiment(embedder={"name": "pixels"}, evaluation={"embedders": ["pixels", "effnet_lite0"]})
    assert pixels.headline_embedder == "effnet_lite0"


@pytest.mark.parametrize(
    "sections,message",
    [
        ({"embedder": {"name": "classifier"}}, "trained on held-out real data and is for evaluation only"),
        ({"evaluation": {"embedders": ["sift"]}}, "evaluation.embedders: unknown embedder 'sift'"),
        ({"evaluation": {"embedders": ["classifier"]}}, "the classifier feature space is trained on the validation part"),
        ({"evaluation": {"fid": {"enabled": True}}}, "evaluation.fid.enabled was folded into evaluation.embedders"),
        ({"dataset": {"num_private": 4000, "num_heldout": 1000, "num_validation": 500}}, None),
    ],
)
def test_evaluation_config_errors(sections, message, tmp_path):
    if message is None:  # too many images is the data's problem: prepare_private says it, naming the three sizes
        from private_evolution.stages.prepare_private import prepare_private

        exp = experiment(**sections)
        with pytest.raises(PEError, match=r"num_private \(4000\) \+ dataset.num_heldout \(1000\) \+ dataset.num_validation \(500\) exceeds the 5000"):
            prepare_private(exp.section("dataset"), None, str(tmp_path / "h.npz"), str(tmp_path / "v.npz"))
        return
    with pytest.raises(PEError, match=message):
        experiment(**sections)


def test_parts_are_disjoint_and_keep_their_places():
    """Private from the permutation's start, validation from its end, the test part just before it:
    the private part stays when an evaluation size changes, and both evaluation parts stay when
    num_private changes, so experiments of every private size share them (and never evaluate on
    each other's private records)."""

    def ids(*args, **options):
        return [set(part.tolist()) for part in split_indices(200, *args, **options)]

    private, test, validation = ids(100, 40, 7, num_validation=30)
    assert [len(i) for i in (private, test, validation)] == [100, 40, 30]
    assert not (private & test or private & validation or test & validation)
    assert ids(100, 40, 7)[0] == private and ids(100, 10, 7, num_validation=5)[0] == private
    smaller = ids(20, 40, 7, num_validation=30)
    assert smaller[0] < private and smaller[1:] == [test, validation]
    assert ids(100, 60, 7, num_validation=30)[2] == validation


def test_headline_order_of_distance_panels():
    available = ["fd_effnet_lite0", "fd_classifier", "fid_inception", "fd_pixels"]
    assert ordered_distances(available, "inception", "effnet_lite0") == ["fid_inception", "fd_classifier", "fd_pixels", "fd_effnet_lite0"]
    assert ordered_distances(["fd_pixels"], "pixels", "pixels") == ["fd_pixels"]


def test_epsilon_axis_labels_each_configured_epsilon_once(tmp_path):
    from private_evolution.report import plot_accuracy_vs_epsilon

    table = pd.DataFrame(
        {"experiment": "x", "epsilon": [0.5, 1, 2, 4, 8, np.inf, np.nan], "iteration": 5, "metric": "accuracy_cnn",
         "value": [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.95], "features": "", "note": ""}
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    captured = {}
    original = plt.close

    def keep(figure=None):
        captured["figure"] = figure
        return original(figure)

    plt.close = keep
    try:
        plot_accuracy_vs_epsilon(table, str(tmp_path / "a.png"), 60)
    finally:
        plt.close = original
    axis = captured["figure"].axes[0]
    assert [label.get_text() for label in axis.get_xticklabels()] == ["0.5", "1", "2", "4", "8"]
    assert len(axis.xaxis.get_minor_ticks()) == 0
    assert "ε" in axis.get_title() and "accuracy_cnn" not in axis.get_title()
    # the axis spans the lines (0.5 to 0.95 here), not 0 to 1
    assert axis.get_ylim() == pytest.approx((0.45, 1.0))


def test_accuracy_axis_spans_the_lines_not_zero_to_one():
    from private_evolution.report import accuracy_axis_range

    # a good run: every line between 0.85 and 0.962; the axis keeps 0.02 of room, on multiples of 0.05
    assert accuracy_axis_range([0.850, 0.888, 0.92, 0.894, 0.962]) == pytest.approx((0.80, 1.0))
    assert accuracy_axis_range([0.30, 0.41]) == pytest.approx((0.25, 0.45))
    assert accuracy_axis_range([0.01, 0.99]) == pytest.approx((0.0, 1.0))  # clipped to [0, 1]
    assert accuracy_axis_range([0.5, 0.5]) == pytest.approx((0.45, 0.55))
    assert accuracy_axis_range([np.nan]) == (0.0, 1.0)  # nothing to show: the whole range


@pytest.mark.parametrize("measured", [[0, 1, 2, 3], [0, 3]])
def test_fd_vs_iteration_does_not_draw_unmeasured_iterations_as_measured(tmp_path, monkeypatch, measured):
    """Every iteration measured (evaluation.iterations: all): solid lines. Only the random and final
    populations (final): dotted lines between them, and a note that says why."""
    from private_evolution import report

    rows = [(eps, t, 100.0 - 10 * t * (eps or 1)) for eps in (1.0, np.inf) for t in measured]
    table = pd.DataFrame(
        {"experiment": "x", "epsilon": [r[0] for r in rows], "iteration": [r[1] for r in rows], "metric": "fd_pixels",
         "value": [r[2] for r in rows], "features": "pixels", "note": ""}
    )
    saved = []
    monkeypatch.setattr(report, "_save", lambda plt, figure, path, dpi, note=None: saved.append((figure, note)))
    report.plot_metric_vs_iteration(table, "fd_pixels", str(tmp_path / "fd.png"), 60)
    figure, note = saved[0]
    lines = figure.axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines] == [measured, measured]  # a marker per measured value
    if measured == [0, 3]:
        assert [line.get_linestyle() for line in lines] == [":", ":"] and "not measured" in note
    else:
        assert [line.get_linestyle() for line in lines] == ["-", "-"] and "not measured" not in note


def test_sample_grids_name_their_classes(tmp_path, monkeypatch):
    """samples.png names each row (a class) at its centre on the first panel; samples_by_iteration.png
    names each column of its strips under the bottom row. Long names fit, without nested paths."""
    from private_evolution import report
    from private_evolution.io import Population, save_population

    class_names = ["T-shirt/top", "Trouser", "Ankle boot", "a very long class name indeed"]
    rng = np.random.default_rng(0)
    paths = {}
    for eps in ("1", "inf"):
        labels = np.arange(12) % 4
        path = tmp_path / f"population_{eps}.npz"
        save_population(path, Population(rng.integers(0, 256, (12, 28, 28, 1), dtype=np.uint8), labels))
        paths[eps] = str(path)
    figures = []
    monkeypatch.setattr(report, "_save", lambda plt, figure, *args, **kwargs: figures.append(figure))
    report.plot_samples(paths, class_names, 3, str(tmp_path / "samples.png"), 60)
    first, second = figures[0].axes
    assert [label.get_text() for label in first.get_yticklabels()] == [
        "T-shirt/top", "Trouser", "Ankle boot", "a very long class…"
    ]
    assert list(first.get_yticks()) == [13.5, 41.5, 69.5, 97.5]  # the centre of each 28-pixel row
    assert second.get_yticklabels() == [] and first.get_xticklabels() == []
    report.plot_samples_by_iteration(
        {(eps, t): paths[eps] for eps in ("1", "inf") for t in (0, 5)}, class_names, str(tmp_path / "by.png"), 60
    )
    axes = figures[1].axes
    bottom = [axis for axis in axes if axis.get_xticklabels()]
    assert len(bottom) == 2 and all(axis in axes[2:] for axis in bottom)  # the last row of panels
    assert [label.get_text() for label in bottom[0].get_xticklabels()][:3] == ["T-shirt/top", "Trouser", "Ankle boot"]
    import matplotlib.pyplot as plt

    for figure in figures:
        plt.close(figure)


def test_six_epsilons_make_two_rows_of_three_sample_panels(tmp_path, monkeypatch):
    """The default sweep's six grids: two rows of three panels, each row's classes named, a figure
    about as tall as wide (one row of six was 1608 x 312 pixels, each mosaic too small to read)."""
    from private_evolution import report
    from private_evolution.io import Population, save_population

    rng = np.random.default_rng(1)
    paths = {}
    for eps in ("0.5", "1", "2", "4", "8", "inf"):
        path = tmp_path / f"population_{eps}.npz"
        save_population(path, Population(rng.integers(0, 256, (80, 28, 28, 1), dtype=np.uint8), np.arange(80) % 10))
        paths[eps] = str(path)
    figures = []
    monkeypatch.setattr(report, "_save", lambda plt, figure, *args, **kwargs: figures.append(figure))
    report.plot_samples(paths, [str(d) for d in range(10)], 8, str(tmp_path / "samples.png"), 100)
    (figure,) = figures
    axes = [axis for axis in figure.axes if axis.get_visible()]
    assert len(axes) == 6 and [axis.get_title().split("\n")[0] for axis in axes[:2]] == ["ε = 0.5", "ε = 1"]
    named = [index for index, axis in enumerate(axes) if axis.get_yticklabels()]
    assert named == [0, 3]  # the first panel of each row of panels
    width, height = figure.get_size_inches()
    assert 0.8 < width / height < 1.5 and width * 100 >= 800  # each mosaic over 250 pixels wide at 100 dpi
    import matplotlib.pyplot as plt

    plt.close(figure)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    workdir = copy_repository(tmp_path_factory.mktemp("spaces"))
    config = tiny_config()
    tiny = config["experiments"]["tiny"]
    tiny["dataset"]["num_validation"] = 200
    tiny["evaluation"] = {"embedders": ["classifier", "effnet_lite0"]}
    tiny["privacy"]["epsilons"] = [1]
    write_config(workdir, config)
    jobs = dry_run_jobs(snakemake(workdir, "--dry-run", "--forceall", "--cores", "2").stdout)
    snakemake(workdir, "--cores", "2")
    return workdir, jobs


def test_classifier_space_is_trained_on_validation_and_used_only_by_evaluation(classifier_run):
    workdir, jobs = classifier_run
    exp = workdir / "results" / "tiny"
    assert (exp / "private" / "feature_classifier.npz").is_file() and (exp / "private" / "validation.npz").is_file()
    assert job_privacy_violations(jobs) == []
    readers = {job["rule"] for job in jobs if any(path.endswith("feature_classifier.npz") for path in job["input"])}
    assert readers == {"evaluate", "embed_real"}
    votes = [job for job in jobs if job["rule"] == "vote"]
    assert votes and not any("classifier" in path for job in votes for path in job["input"])
    table = pd.read_csv(exp / "metrics.csv")
    assert {"fd_classifier", "precision_classifier", "recall_classifier", "fd_effnet_lite0"} <= set(table.metric)
    own = table[table.features == "effnet_lite0"]
    other = table[table.features == "classifier"]
    assert own.note.str.contains("vote's own feature space").all()
    assert not other.note.str.contains("vote's own").any()
    # the test part, not the validation part, is what every metric is computed against
    with np.load(exp / "private" / "heldout_embed_classifier.npz") as test:
        assert len(test["labels"]) == 100


def test_classifier_space_is_embedded_by_the_evaluate_job_with_the_embed_stage_values(classifier_run, tmp_path):
    """In the classifier space each population's evaluate job embeds the population itself: one job
    per population and space, no embedding file; its metrics are those of the embed stage's file
    measured by the evaluate stage (the two jobs per population of earlier versions)."""
    from private_evolution.io import read_json
    from private_evolution.stages.embed import embed
    from private_evolution.stages.evaluate import evaluate

    workdir, jobs = classifier_run
    exp = workdir / "results" / "tiny"
    evaluations = [job for job in jobs if job["rule"] == "evaluate" and job["wildcards"]["embedder"] == "classifier"]
    populations = {path for job in jobs if job["rule"] in ("random_population", "vary") for path in job["output"]}
    assert evaluations and len(evaluations) == len(populations)
    for job in evaluations:
        images = [path for path in job["input"] if path.endswith("population.npz")]
        assert len(images) == 1 and images[0] in populations
    assert not any(path.endswith("/embed_classifier.npz") for job in jobs for path in job["output"])
    assert not [path for path in exp.rglob("embed_classifier.npz")] and (exp / "private" / "heldout_embed_classifier.npz").is_file()
    # what the workflow passes its jobs (embedder_params, the evaluate rule's params)
    tiny = load_config(yaml.safe_load((workdir / "config" / "config.yaml").read_text()))["tiny"]
    options = {**tiny.embedder_options("classifier"), "weights": str(exp / "private" / "feature_classifier.npz")}
    heldout = str(exp / "private" / "heldout_embed_classifier.npz")
    for job in evaluations:
        population = workdir / next(path for path in job["input"] if path.endswith("population.npz"))
        embedding, measured = tmp_path / "embed_classifier.npz", tmp_path / "metrics_classifier.json"
        embed(str(population), str(embedding), options, threads=1)
        evaluate(str(embedding), heldout, "classifier", str(measured), metrics=tiny.evaluation.metrics,
                 options={"k_nearest": tiny.evaluation.k_nearest})
        assert read_json(measured) == pytest.approx(read_json(workdir / job["output"][0]), rel=1e-6)


@pytest.mark.parametrize(
    "evaluation,expected",
    [
        ({}, {"pixels": [0, 1, 2, 3], "inception": [0, 3]}),
        ({"iterations": "final"}, {"pixels": [0, 3], "inception": [0, 3]}),
        ({"fid": {"iterations": "all"}}, {"pixels": [0, 1, 2, 3], "inception": [0, 1, 2, 3]}),
        ({"iterations": "final", "fid": {"iterations": "all"}}, {"pixels": [0, 3], "inception": [0, 3]}),
    ],
)
def test_evaluation_iterations_choose_the_measured_populations(evaluation, expected):
    from private_evolution.config import load_config
    from private_evolution.embedders import embedder_class

    exp = load_config({"experiments": {"x": {"pe": {"iterations": 3}, "evaluation": evaluation}}})["x"]
    assert {name: embedder_class(name).evaluated_iterations(exp) for name in expected} == expected
