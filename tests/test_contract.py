"""contract.py names every file jobs exchange; these are the paths the README and
docs/ARCHITECTURE.md describe, and the privacy boundary they draw."""

from __future__ import annotations

from private_evolution import contract
from private_evolution.contract import (
    accuracy_path, draw_path, embedding_path, fill, lookahead_path, metrics_path, population_path, privacy_path,
    real_embedding_path, real_set_path, run_epsilon_label, run_folder, selected_path, votes_path,
)


def test_paths_are_the_documented_layout():
    assert population_path("x", "1", 0) == "results/x/shared/iter_0/population.npz"  # RANDOM_API: shared by every epsilon
    assert population_path("x", "0.5", 3) == "results/x/eps_0.5/iter_3/population.npz"
    assert embedding_path("x", "1", 2, "pixels") == "results/x/eps_1/iter_2/embed_pixels.npz"
    assert lookahead_path("x", "1", 0, "pixels") == "results/x/shared/iter_0/lookahead_pixels.npz"
    assert metrics_path("x", "inf", 5, "classifier") == "results/x/eps_inf/iter_5/metrics_classifier.json"
    assert selected_path("x", "1", 1) == "results/x/eps_1/iter_1/selected.npz"
    assert privacy_path("x", "2") == "results/x/eps_2/privacy.json"
    assert accuracy_path("x", "2") == "results/x/eps_2/accuracy.json"
    assert real_set_path("x", "heldout") == "results/x/private/heldout.npz"
    assert real_embedding_path("x", "private", "pixels") == "results/x/private/private_embed_pixels.npz"
    assert fill(contract.REAL_SET, split="validation") == "results/{exp}/private/validation.npz"
    assert run_folder("0.5") == "eps_0.5" and run_folder(None) == "shared"
    assert run_epsilon_label("eps_0.5") == "0.5" and run_epsilon_label("shared") is None


def test_what_is_not_noised_lives_under_private():
    # the votes of a finite epsilon are noisy (public); epsilon = inf's are the clean counts
    assert votes_path("x", "1", 1) == "results/x/eps_1/iter_1/votes.npz"
    assert votes_path("x", "inf", 1) == "results/x/private/eps_inf/iter_1/votes.npz"
    assert draw_path("x", "1", 1) == "results/x/private/eps_1/iter_1/draw.json"  # it holds the clean counts' digest
    private = [
        contract.REAL_SET, contract.REAL_EMBEDDING, contract.REAL_EMBEDDING_SHARD, contract.FEATURE_CLASSIFIER,
        contract.DRAW, contract.VOTE_COUNTS, contract.PRIVATE_ITER, contract.PRIVATE_LOGS,
    ]
    for pattern in private:
        assert pattern.startswith("results/{exp}/private/"), pattern
    public = [contract.ITER, contract.ITER_ZERO, contract.PRIVACY, contract.LOGS, contract.BENCHMARKS, contract.RELEASE]
    for pattern in public:
        assert "/private" not in pattern, pattern


def test_every_log_has_the_benchmark_file_of_the_same_name():
    assert contract.job_log("vote/eps_1_iter_1", private=True) == "results/{exp}/private/logs/vote/eps_1_iter_1.log"
    assert contract.job_benchmark("vote/eps_1_iter_1") == "results/{exp}/benchmarks/vote/eps_1_iter_1.tsv"
    for private in (False, True):
        log = contract.job_log("embed/shared_iter_0_pixels", private=private).format(exp="x")
        assert contract.benchmark_of_log(log) == "results/x/benchmarks/embed/shared_iter_0_pixels.tsv"
    assert contract.benchmark_of_log("/abs/work/results/x/logs/plot.log") == "/abs/work/results/x/benchmarks/plot.tsv"
    assert contract.benchmark_of_log("results/x/other/plot.log") is None


def test_array_names_are_what_readers_require():
    assert contract.VoteArrays.REQUIRED == ("noisy_counts", "weights", "labels")
    assert contract.ImageArrays.REQUIRED == ("images", "labels")
    assert contract.EmbeddingArrays.REQUIRED == ("features", "labels")
    assert contract.SelectionArrays.REQUIRED == ("parent_ids",)
    assert contract.CountArrays.REQUIRED == ("counts", "labels")
