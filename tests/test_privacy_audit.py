"""Privacy you can audit: the DAG's privacy boundary, an empirical lower bound on epsilon, release mode."""

import json

import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.accounting import calibrate_sigma, pld_epsilon, rdp_epsilon
from private_evolution.audit import dry_run_jobs, epsilon_lower_bound, job_privacy_violations, rulegraph_edges
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


def test_workflow_respects_the_privacy_boundary_job_by_job(workdir):
    jobs = planned(workdir)
    rules = {job["rule"] for job in jobs}
    assert {"vote", "vote_reference", "embed_real", "random_population"} <= rules
    assert job_privacy_violations(jobs) == []
    # RANDOM_API reads nothing at all: it cannot depend on private data.
    assert [job["input"] for job in jobs if job["rule"] == "random_population"] == [[]]
    # the un-noised vote writes only under private/
    assert all("/private/" in path for job in jobs if job["rule"] == "vote_reference" for path in job["output"])


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
    leaky_contract = contract_original.replace('folder = PRIVATE_ITER if eps == "inf" else ITER', "folder = ITER")
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
            pld_sigma = calibrate_sigma(epsilon, 1e-5, iterations)
            assert pld_sigma <= calibrate_sigma(epsilon, 1e-5, iterations, epsilon_fn=rdp_epsilon)
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
    without = np.array([noisy_histogram(counts_without, sigma, rng)[target] for _ in range(runs)])
    with_canary = np.array([noisy_histogram(counts_with, sigma, rng)[target] for _ in range(runs)])
    return without, with_canary


CLAIMED_EPSILON, DELTA = 1.0, 1e-5


def test_empirical_epsilon_lower_bound_stays_below_the_claim():
    sigma = calibrate_sigma(CLAIMED_EPSILON, DELTA, 1)
    bound = epsilon_lower_bound(*canary_scores(sigma, 20000, seed=1), delta=DELTA)
    print(f"audit: claimed epsilon {CLAIMED_EPSILON}, sigma {sigma}, empirical lower bound {bound:.3f}")
    assert bound <= CLAIMED_EPSILON


def test_audit_catches_a_mechanism_with_too_little_noise():
    sigma = calibrate_sigma(CLAIMED_EPSILON, DELTA, 1) / 10  # deliberately broken
    bound = epsilon_lower_bound(*canary_scores(sigma, 20000, seed=2), delta=DELTA)
    print(f"audit: broken mechanism (sigma / 10), empirical lower bound {bound:.3f}")
    assert bound > CLAIMED_EPSILON


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
    private_dir = tmp_path / "private"  # not the finished run's: its ledger stays untouched
    release(release_runs(exp, ["1"]), str(out), str(private_dir))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [MANIFEST, SUMMARY]
        + [f"eps_1/{name}" for name in ("privacy.json", "synthetic.npz", "noisy_votes_iter_1.npz", "noisy_votes_iter_2.npz")]
    )
    manifest = dict(reversed(line.split("  ")) for line in (out / MANIFEST).read_text().splitlines())
    assert all(manifest[name] == sha256_of(out / name) for name in files if name != MANIFEST)
    private_hashes = {sha256_of(p) for p in (exp / "private").rglob("*") if p.is_file()}
    assert not private_hashes & {sha256_of(out / name) for name in files}
    with np.load(exp / "private" / "private.npz") as private:
        private_rows = {row.tobytes() for row in private["images"]}
    with np.load(out / "eps_1" / "synthetic.npz") as synthetic:
        assert set(synthetic.files) == {"images", "labels"}
        assert not any(image.tobytes() in private_rows for image in synthetic["images"])
    assert json.loads((out / "eps_1" / "privacy.json").read_text())["sigma"] > 0
    summary = json.loads((out / SUMMARY).read_text())
    one = json.loads((exp / "eps_1/privacy.json").read_text())
    assert summary["composed_epsilon"] == pytest.approx(1.0, abs=0.01) and summary["composed_delta"] == one["delta"]
    # the released draws are remembered (privately), so a vote that would redraw them refuses
    released = json.loads((private_dir / "ledger" / "released.json").read_text())
    assert released["1"]["1"] == json.loads((exp / "private/eps_1/iter_1/draw.json").read_text())["digest"]
    assert "digest" not in (out / "eps_1" / "privacy.json").read_text()


def test_release_refuses_private_paths_and_non_dp_runs(finished_run, tmp_path):
    exp = finished_run / "results" / "tiny"
    runs = {"1": {"privacy": str(exp / "eps_1/privacy.json"), "votes": [], "final": str(exp / "private/private.npz")}}
    with pytest.raises(PEError, match="refusing to release"):
        release(runs, str(tmp_path / "release"))
    runs = release_runs(exp, ["inf"])
    runs["inf"]["votes"] = []
    with pytest.raises(PEError, match="refusing to release the run of .*not DP \\(no: epsilon = inf"):
        release(runs, str(tmp_path / "release"))
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
