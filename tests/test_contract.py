"""contract.py names every file jobs exchange; these are the paths the README and
docs/ARCHITECTURE.md describe, and the privacy boundary they draw."""

from __future__ import annotations

from pathlib import Path

from private_evolution import contract
from private_evolution.contract import (
    accuracy_path, draw_path, embedding_path, fill, lookahead_path, metrics_path, population_path,
    privacy_path, real_embedding_path, real_set_path, run_dir, run_epsilon_label, run_folder, selected_path, votes_path,
)

REPO = Path(__file__).resolve().parents[1]


def test_paths_are_the_documented_layout():
    assert population_path("x", "1", 0) == "results/x/shared/iter_0/population.npz"  # RANDOM_API: shared by every epsilon
    assert population_path("x", "0.5", 3) == "results/x/eps_0.5/iter_3/population.npz"
    assert embedding_path("x", "1", 2, "pixels") == "results/x/eps_1/iter_2/embed_pixels.npz"
    assert lookahead_path("x", "1", 0, "pixels") == "results/x/shared/iter_0/lookahead_pixels.npz"
    assert metrics_path("x", "2", 5, "classifier") == "results/x/eps_2/iter_5/metrics_classifier.json"
    assert selected_path("x", "1", 1) == "results/x/eps_1/iter_1/selected.npz"
    assert privacy_path("x", "2") == "results/x/eps_2/privacy.json"
    assert accuracy_path("x", "2") == "results/x/eps_2/accuracy.json"
    assert real_set_path("x", "heldout") == "results/x/private/heldout.npz"
    assert real_embedding_path("x", "private", "pixels") == "results/x/private/private_embed_pixels.npz"
    assert fill(contract.REAL_SET, split="validation") == "results/{exp}/private/validation.npz"
    assert run_folder("0.5") == "eps_0.5" and run_folder(None) == "shared" and run_folder("inf") == "eps_inf"
    assert run_dir("0.5") == "eps_0.5" and run_dir(None) == "shared" and run_dir("inf") == "private/eps_inf"
    assert run_epsilon_label("eps_0.5") == "0.5" and run_epsilon_label("shared") is None
    assert run_epsilon_label("private/eps_inf") == "inf" and run_epsilon_label("eps_inf") == "inf"


def test_what_is_not_noised_lives_under_private():
    # the votes of a finite epsilon are noisy (public); epsilon = inf's are the clean counts
    assert votes_path("x", "1", 1) == "results/x/eps_1/iter_1/votes.npz"
    assert votes_path("x", "inf", 1) == "results/x/private/eps_inf/iter_1/votes.npz"
    assert draw_path("x", "1", 1) == "results/x/private/eps_1/iter_1/draw.json"  # it holds the clean counts' digest
    private = [
        contract.REAL_SET, contract.REAL_EMBEDDING, contract.REAL_EMBEDDING_SHARD, contract.FEATURE_CLASSIFIER,
        contract.DRAW, contract.VOTE_COUNTS, contract.PRIVATE_ITER, contract.PRIVATE_LOGS, contract.ACCURACY_CEILING,
    ]
    for pattern in private:
        assert pattern.startswith("results/{exp}/private/"), pattern
    public = [
        contract.ITER, contract.ITER_ZERO, contract.PRIVACY, contract.LOGS, contract.BENCHMARKS, contract.RELEASE,
        contract.RANDOM_BASELINE,  # RANDOM_API only: no private data
    ]
    for pattern in public:
        assert "/private" not in pattern, pattern


def test_the_un_noised_reference_run_and_the_ceiling_live_under_private():
    """Everything made from private data without noise is private: the whole epsilon = inf run
    (its un-noised votes and all that follows them) and the classifier trained on the private set."""
    assert contract.ACCURACY_CEILING.format(exp="x") == "results/x/private/accuracy_ceiling.json"
    assert population_path("x", "inf", 3) == "results/x/private/eps_inf/iter_3/population.npz"
    assert selected_path("x", "inf", 1) == "results/x/private/eps_inf/iter_1/selected.npz"
    assert metrics_path("x", "inf", 5, "classifier") == "results/x/private/eps_inf/iter_5/metrics_classifier.json"
    assert accuracy_path("x", "inf") == "results/x/private/eps_inf/accuracy.json"
    # the reference's iteration folder is the one that holds its votes and draw records
    assert votes_path("x", "inf", 2).rsplit("/", 1)[0] == contract.PRIVATE_ITER.format(exp="x", eps="inf", t=2)
    assert contract.REFERENCE_RUN.split("/")[0] == contract.PRIVATE_FOLDER and contract.run_dir("inf") == contract.REFERENCE_RUN
    reference = [votes_path("x", "inf", 1), draw_path("x", "inf", 1), accuracy_path("x", "inf")]
    reference += [
        function("x", "inf", t, *extra)
        for t in (1, 4)
        for function, extra in ((population_path, ()), (selected_path, ()), (embedding_path, ("pixels",)),
                                (lookahead_path, ("pixels",)), (metrics_path, ("classifier",)))
    ]
    assert all(path.startswith("results/x/private/eps_inf/") for path in reference), reference
    # iteration 0 (RANDOM_API, no private data) stays shared and public
    assert population_path("x", "inf", 0) == "results/x/shared/iter_0/population.npz"
    # a finite epsilon's run is public: nothing of it lies under private/ but its draw records
    finite = [population_path("x", "1", 2), selected_path("x", "1", 2), metrics_path("x", "1", 2, "pixels"), accuracy_path("x", "1")]
    assert all("/private/" not in path for path in finite)


def test_the_docs_say_what_is_public():
    """The README's section on what is public names Snakemake's metadata folder as private: it holds
    sha256 digests of small input files, private ones included, and a digest confirms a guess."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("* **What is public.**", 1)[1].split("\n* **", 1)[0]
    assert "`.snakemake/`" in section and "Private, never to be shared" in section and "sha256" in section
    assert "never the working directory" in section
    assert ".snakemake/" in (REPO / "results" / "README.md").read_text()
    for path in ("results/{exp}/private/eps_inf/", "results/{exp}/private/accuracy_ceiling.json"):
        assert path in readme, path


def test_every_log_has_the_benchmark_file_of_the_same_name():
    assert contract.job_log("vote/eps_1_iter_1", private=True) == "results/{exp}/private/logs/vote/eps_1_iter_1.log"
    # a job that reads private data keeps its benchmark (time, memory, I/O) private too
    assert contract.job_benchmark("vote/eps_1_iter_1", private=True) == "results/{exp}/private/benchmarks/vote/eps_1_iter_1.tsv"
    assert contract.job_benchmark("plot") == "results/{exp}/benchmarks/plot.tsv"
    for private, folder in ((False, "results/x"), (True, "results/x/private")):
        log = contract.job_log("embed/shared_iter_0_pixels", private=private).format(exp="x")
        assert contract.benchmark_of_log(log) == f"{folder}/benchmarks/embed/shared_iter_0_pixels.tsv"
    assert contract.benchmark_of_log("/abs/work/results/x/logs/plot.log") == "/abs/work/results/x/benchmarks/plot.tsv"
    assert contract.benchmark_of_log("results/x/other/plot.log") is None
    assert contract.benchmark_of_log("/w/results/_ledger/npz-ab12/logs/data_ledger.log") == "/w/results/_ledger/npz-ab12/benchmarks/data_ledger.tsv"


def test_array_names_are_what_readers_require():
    assert contract.VoteArrays.REQUIRED == ("noisy_counts", "weights", "labels")
    assert contract.ImageArrays.REQUIRED == ("images", "labels")
    assert contract.EmbeddingArrays.REQUIRED == ("features", "labels")
    assert contract.SelectionArrays.REQUIRED == ("parent_ids",)
    assert contract.CountArrays.REQUIRED == ("counts", "labels", "computation")
