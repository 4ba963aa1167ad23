"""Privacy you can audit: the DAG's privacy boundary, an empirical lower bound on epsilon, release mode."""

import json

import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.accounting import calibrate_sigma, pld_epsilon, rdp_epsilon
from private_evolution.audit import epsilon_lower_bound, privacy_boundary_violations, rulegraph_edges
from private_evolution.config import load_config
from private_evolution.stages.release import MANIFEST, release, sha256_of
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


def test_workflow_respects_the_privacy_boundary(workdir):
    edges = rulegraph_edges(snakemake(workdir, "--rulegraph", "dot").stdout)
    assert ("embed_real", "vote") in edges and ("random_population", "embed") in edges
    assert privacy_boundary_violations(edges) == []
    # RANDOM_API has no ancestor at all: it cannot depend on private data.
    assert not [edge for edge in edges if edge[1] == "random_population"]


def test_sharded_workflow_respects_the_privacy_boundary(tmp_path):
    """With shards, clean counts flow vote_shard -> vote only; nothing else reads a private rule's output."""
    workdir = copy_repository(tmp_path)
    config = tiny_config()
    config["experiments"]["tiny"]["compute"] = {"shards": 3}
    write_config(workdir, config)
    edges = rulegraph_edges(snakemake(workdir, "--rulegraph", "dot").stdout)
    assert ("vote_shard", "vote") in edges and ("embed_real_shard", "embed_real") in edges
    assert [consumer for producer, consumer in edges if producer == "vote_shard"] == ["vote"]
    assert privacy_boundary_violations(edges) == []


def test_boundary_check_catches_a_rule_that_reads_private_data(workdir):
    snakefile = workdir / "workflow" / "Snakefile"
    original = snakefile.read_text()
    snakefile.write_text(original + LEAKY_RULE)
    try:
        edges = rulegraph_edges(snakemake(workdir, "--rulegraph", "dot", "results/tiny/plots/leak.txt").stdout)
    finally:
        snakefile.write_text(original)
    assert privacy_boundary_violations(edges) == ["rule 'leak' reads private data (the output of rule 'prepare_private')"]


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


def test_release_holds_only_dp_outputs(finished_run, tmp_path):
    exp = finished_run / "results" / "tiny"
    runs = {
        eps: {
            "privacy": str(exp / f"eps_{eps}/privacy.json"),
            "votes": [str(exp / f"eps_{eps}/iter_{t}/votes.npz") for t in (1, 2)],
            "final": str(exp / f"eps_{eps}/iter_2/population.npz"),
        }
        for eps in ("1", "inf")
    }
    out = tmp_path / "release"
    release(runs, str(out))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [MANIFEST]
        + [f"eps_{e}/{name}" for e in ("1", "inf") for name in ("privacy.json", "synthetic.npz", "noisy_votes_iter_1.npz", "noisy_votes_iter_2.npz")]
    )
    manifest = dict(reversed(line.split("  ")) for line in (out / MANIFEST).read_text().splitlines())
    assert all(manifest[name] == sha256_of(out / name) for name in files if name != MANIFEST)
    private_hashes = {sha256_of(p) for p in (exp / "private").iterdir()}
    assert not private_hashes & {sha256_of(out / name) for name in files}
    with np.load(exp / "private" / "private.npz") as private:
        private_rows = {row.tobytes() for row in private["images"]}
    with np.load(out / "eps_1" / "synthetic.npz") as synthetic:
        assert set(synthetic.files) == {"images", "labels"}
        assert not any(image.tobytes() in private_rows for image in synthetic["images"])
    assert json.loads((out / "eps_1" / "privacy.json").read_text())["sigma"] > 0


def test_release_refuses_private_paths(finished_run, tmp_path):
    exp = finished_run / "results" / "tiny"
    runs = {"1": {"privacy": str(exp / "eps_1/privacy.json"), "votes": [], "final": str(exp / "private/private.npz")}}
    with pytest.raises(PEError, match="refusing to release"):
        release(runs, str(tmp_path / "release"))


def test_release_needs_seed_from_os():
    config = {"experiments": {"x": {"release": {"enabled": True}}}}
    with pytest.raises(PEError, match="release needs privacy.seed_from_os: true"):
        load_config(config)
    config = {"experiments": {"x": {"release": {"enabled": True}, "privacy": {"seed_from_os": True}}}}
    assert load_config(config)["x"].release.enabled
