"""The workflow end to end on the tiny config (.test/config/config.yaml), with reruns."""

import copy
import json

import numpy as np
import pytest

from private_evolution.accounting import calibrate_sigma
from private_evolution.contract import (
    ACCURACY_CEILING, METRICS_TABLE, PLOTS, PRIVACY_LEDGER, VoteArrays, accuracy_path, embedding_path, metrics_path,
    population_path, privacy_path, real_embedding_path, real_set_path, selected_path, votes_path,
)
from private_evolution.report import PLOT_FILES
from workflow_helpers import copy_repository, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

EXP = "tiny"


def expected_files(config):
    """Every file the tiny run should leave, by the paths of contract.py (test_contract.py pins
    those paths to the layout the docs describe)."""
    exp = config["experiments"][EXP]
    epsilons = ["1", "inf"]
    iterations = exp["pe"]["iterations"]
    vote_space, spaces = "effnet_lite0", ("effnet_lite0", "inception")
    files = [real_set_path(EXP, split) for split in ("private", "heldout")]
    files.append(real_embedding_path(EXP, "private", vote_space))  # the vote's space only
    files += [real_embedding_path(EXP, "heldout", space) for space in spaces]
    files += [population_path(EXP, "1", 0), embedding_path(EXP, "1", 0, vote_space)]
    files += [metrics_path(EXP, "1", 0, space) for space in spaces]
    files += [pattern.format(exp=EXP) for pattern in (METRICS_TABLE, PRIVACY_LEDGER, ACCURACY_CEILING)]
    files += [f"{PLOTS}/{name}".format(exp=EXP) for name in PLOT_FILES.values()]
    for eps in epsilons:
        files += [privacy_path(EXP, eps), accuracy_path(EXP, eps), metrics_path(EXP, eps, iterations, "inception")]
        for t in range(1, iterations + 1):
            files += [selected_path(EXP, eps, t), population_path(EXP, eps, t), votes_path(EXP, eps, t)]
            files += [embedding_path(EXP, eps, t, vote_space), metrics_path(EXP, eps, t, vote_space)]
    return files


def test_every_expected_output_exists(finished_run):
    missing = [f for f in expected_files(tiny_config()) if not (finished_run / f).is_file()]
    assert missing == []
    for rule in ("embed", "vary"):
        assert any((finished_run / f"results/{EXP}/logs/{rule}").iterdir())
    assert any((finished_run / f"results/{EXP}/private/logs/vote").iterdir())  # the vote reads private data
    for rule in ("embed", "vary"):
        assert any((finished_run / f"results/{EXP}/benchmarks/{rule}").iterdir())
    # a job that reads private data: its time, memory and I/O depend on that data
    assert any((finished_run / f"results/{EXP}/private/benchmarks/vote").iterdir())
    assert not (finished_run / f"results/{EXP}/benchmarks/vote").exists()
    assert not (finished_run / f"results/{EXP}/benchmarks/prepare_private.tsv").exists()


def test_privacy_json_holds_the_accountants_sigma(finished_run):
    config = tiny_config()["experiments"][EXP]
    record = json.loads((finished_run / f"results/{EXP}/eps_1/privacy.json").read_text())
    assert record["sigma"] == calibrate_sigma(1.0, config["privacy"]["delta"], config["pe"]["iterations"], record["k"])
    assert record["mechanism"].startswith("discrete Gaussian") and record["bins"] == config["pe"]["num_samples"]
    assert record["epsilon"] == 1.0 and record["iterations"] == config["pe"]["iterations"]
    assert record["seed_mode"] == "secret" and record["dp"] == "yes" and "PLD" in record["accountant"]
    assert record["noise_seed"].startswith("secret")
    assert record["threshold"] == pytest.approx(record["sigma"])  # default H = 1 sigma
    no_noise = json.loads((finished_run / f"results/{EXP}/eps_inf/privacy.json").read_text())
    assert no_noise["sigma"] == 0.0 and no_noise["epsilon"] == "inf"


def test_votes_hold_only_noisy_counts(finished_run):
    record = json.loads((finished_run / f"results/{EXP}/eps_1/privacy.json").read_text())
    with np.load(finished_run / f"results/{EXP}/eps_1/iter_1/votes.npz") as votes:
        assert set(votes.files) == set(VoteArrays.REQUIRED)
        noisy, weights = votes[VoteArrays.NOISY_COUNTS], votes[VoteArrays.WEIGHTS]
    from private_evolution.stages.vote import clean_counts

    exp = finished_run / f"results/{EXP}"
    clean, _ = clean_counts(str(exp / "private/private_embed_effnet_lite0.npz"), str(exp / "shared/iter_0/embed_effnet_lite0.npz"), 1, "numpy")
    assert noisy.dtype == np.int64 and not np.array_equal(noisy, clean)  # integer noise was added
    assert np.allclose(weights, np.maximum(noisy - record["threshold"], 0))
    assert not (finished_run / f"results/{EXP}/eps_inf/iter_1/votes.npz").exists()  # un-noised: private only
    with np.load(finished_run / f"results/{EXP}/private/eps_inf/iter_1/votes.npz") as votes:
        exact = votes["noisy_counts"]
    private_size = tiny_config()["experiments"][EXP]["dataset"]["num_private"]
    assert np.allclose(exact, np.round(exact)) and exact.sum() == private_size  # epsilon = inf: k = 1 vote each


def test_private_data_stays_in_private_folder(finished_run):
    with np.load(finished_run / f"results/{EXP}/private/private.npz") as private:
        private_images = private["images"]
    private_rows = {row.tobytes() for row in private_images}
    for path in (finished_run / "results").rglob("*.npz"):
        if "private" in path.relative_to(finished_run / "results").parts:
            continue
        with np.load(path) as arrays:
            if "images" in arrays.files:
                assert not any(image.tobytes() in private_rows for image in arrays["images"]), path


def test_metrics_table_and_improvement(finished_run):
    import pandas as pd

    table = pd.read_csv(finished_run / f"results/{EXP}/metrics.csv")
    assert set(table.columns) >= {"experiment", "epsilon", "iteration", "metric", "value", "note"}
    assert sorted(table.epsilon.dropna().unique()) == [0.0, 1.0, float("inf")]
    assert {"fd_effnet_lite0", "fid_inception", "precision_effnet_lite0", "recall_effnet_lite0", "accuracy_cnn"} <= set(table.metric)
    assert table.note.str.contains("not differentially private").all()
    ceiling = table[table.epsilon.isna()]
    assert ceiling.metric.tolist() == ["accuracy_cnn"] and ceiling.value.iloc[0] > 0.5
    fd = table[table.metric == "fd_effnet_lite0"]
    start = fd[fd.iteration == 0].value.iloc[0]
    final = fd[(fd.iteration == 2) & (fd.epsilon == float("inf"))].value.iloc[0]
    assert final < start


def test_zero_privacy_baseline_rows(finished_run):
    """epsilon = 0: the random population (iteration 0, no private data) in every feature space
    and its accuracy, from the shared run's files, labelled as the baseline."""
    import pandas as pd

    exp = finished_run / f"results/{EXP}"
    table = pd.read_csv(exp / "metrics.csv")
    baseline = table[table.epsilon == 0.0]
    assert (baseline.iteration == 0).all()
    assert baseline.note.str.startswith("zero-privacy baseline").all()
    assert not table[table.epsilon != 0.0].note.str.contains("zero-privacy").any()
    accuracy = json.loads((exp / "shared/accuracy.json").read_text())
    assert baseline[baseline.metric == "accuracy_cnn"].value.tolist() == [pytest.approx(accuracy["accuracy_cnn"])]
    assert accuracy["num_train"] == len(np.load(exp / "shared/iter_0/population.npz")["labels"])
    for space in ("effnet_lite0", "inception"):
        metrics = json.loads((exp / f"shared/iter_0/metrics_{space}.json").read_text())
        rows = baseline[baseline.features == space].set_index("metric").value
        assert set(rows.index) == {name for name in metrics if not name.startswith("num_")}
        assert all(rows[name] == pytest.approx(value) for name, value in metrics.items() if name in rows.index)
    # a run's own iteration-0 rows are the same population's
    start = table[(table.metric == "fd_effnet_lite0") & (table.iteration == 0) & (table.epsilon == 1.0)].value
    assert start.tolist() == baseline[baseline.metric == "fd_effnet_lite0"].value.tolist()


def test_rerun_plans_nothing(finished_run):
    assert planned_jobs(finished_run) == {}


def test_adding_an_epsilon_plans_only_that_branch(finished_run):
    config = tiny_config()
    config["experiments"][EXP]["privacy"]["epsilons"].append(4)
    write_config(finished_run, config)
    try:
        planned = planned_jobs(finished_run)
    finally:
        write_config(finished_run, tiny_config())
    assert planned == {
        "calibrate": 1, "vote": 2, "select": 2, "vary": 2, "embed": 3, "evaluate": 3, "evaluate_accuracy": 1,
        "privacy_ledger": 1, "collect_metrics": 1, "plot": 1, "all": 1,
    }


def test_changing_a_plot_option_reruns_only_the_plot(finished_run):
    config = tiny_config()
    config["experiments"][EXP]["plot"]["dpi"] = 77
    write_config(finished_run, config)
    try:
        planned = planned_jobs(finished_run)
    finally:
        write_config(finished_run, tiny_config())
    assert planned == {"plot": 1, "all": 1}


def test_library_edit_reruns_the_stages_that_run_it(finished_run):
    module = finished_run / "src" / "private_evolution" / "select.py"
    original = module.read_text()
    module.write_text(original + "\nEDITED = True  # a statement: what the module does changed\n")
    try:
        planned = planned_jobs(finished_run)
    finally:
        module.write_text(original)
    assert planned["select"] == planned["select_reference"] == 2 and planned["vary"] == planned["vary_reference"] == 2
    for untouched in ("prepare_private", "random_population", "calibrate", "embed_real"):
        assert untouched not in planned
    assert planned_jobs(finished_run) == {}


def test_failed_job_leaves_no_output_and_rerun_keeps_finished_work(tmp_path):
    workdir = copy_repository(tmp_path)
    config = tiny_config()
    broken = copy.deepcopy(config)
    broken["experiments"][EXP]["embedder"]["weights"] = str(tmp_path / "missing.pth")
    write_config(workdir, broken)
    result = snakemake(workdir, "--cores", "2", check=False)
    assert result.returncode != 0
    results = workdir / "results" / EXP
    # The first job to fail embeds the private set: its message stays in its private log,
    # and the console says where that is (a public embedding job prints it directly).
    output = result.stdout + result.stderr
    messages = output + "".join(p.read_text() for p in (results / "private" / "logs").rglob("*.log"))
    assert "cannot load EfficientNet-Lite0 weights" in messages and "missing.pth" in messages
    assert "cannot load EfficientNet-Lite0 weights" in output or "the reason is in results/tiny/private/logs/embed_real/" in output
    assert not list(results.rglob("*embed_effnet_lite0*")), "a failed job left an output behind"
    finished = {
        "prepare_private": (results / "private" / "private.npz").is_file(),
        "random_population": (results / "shared" / "iter_0" / "population.npz").is_file(),
        "calibrate": (results / "eps_1" / "privacy.json").is_file() and (results / "eps_inf" / "privacy.json").is_file(),
    }
    assert any(finished.values()), "no job finished before the failure"
    write_config(workdir, config)
    planned = planned_jobs(workdir)
    for rule, done in finished.items():
        if done:
            assert rule not in planned, f"{rule} finished before the failure but is planned again"
    assert planned["embed_real"] >= 2
