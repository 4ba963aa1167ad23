import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.vote import apply_threshold, nearest_neighbor_counts, noisy_histogram


def test_exact_counts_on_hand_made_case():
    synthetic = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    synthetic_labels = np.array([0, 0, 0])
    private = np.array([[1.0, 0.0], [9.0, 1.0], [8.0, -1.0], [0.0, 7.0], [-1.0, -1.0]])
    private_labels = np.zeros(5, dtype=int)
    counts = nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, k=1)
    assert counts.tolist() == [2, 2, 1]


def test_k_nearest_votes():
    synthetic = np.array([[0.0], [1.0], [5.0], [6.0]])
    private = np.array([[0.4], [5.4]])
    counts = nearest_neighbor_counts(private, np.zeros(2, int), synthetic, np.zeros(4, int), k=2)
    assert counts.tolist() == [1, 1, 1, 1]
    counts = nearest_neighbor_counts(private, np.zeros(2, int), synthetic, np.zeros(4, int), k=3)
    assert counts.sum() == 6 and counts.max() == 2


def test_no_vote_crosses_classes():
    # The private sample of class 1 sits on top of a class-0 candidate, yet must vote in class 1.
    synthetic = np.array([[0.0, 0.0], [100.0, 100.0]])
    synthetic_labels = np.array([0, 1])
    private = np.array([[0.0, 0.0], [0.1, 0.0]])
    counts = nearest_neighbor_counts(private, np.array([0, 1]), synthetic, synthetic_labels)
    assert counts.tolist() == [1, 1]


def test_counts_total_is_k_per_private_sample(rng):
    synthetic, private = rng.normal(size=(50, 8)), rng.normal(size=(300, 8))
    synthetic_labels, private_labels = np.arange(50) % 5, rng.integers(0, 5, 300)
    counts = nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, k=3, batch_size=7)
    assert counts.sum() == 900


def test_missing_candidates_for_k_is_an_error():
    with pytest.raises(PEError, match="k=2"):
        nearest_neighbor_counts(np.zeros((1, 2)), np.array([0]), np.zeros((1, 2)), np.array([0]), k=2)


def test_measured_noise_scale_within_five_percent():
    counts = np.zeros(200_000, dtype=np.int64)
    sigma = 3.7
    noisy = noisy_histogram(counts, sigma, 2**100 + 7, "scale")
    assert noisy.dtype == np.int64
    assert abs(noisy.std() - sigma) / sigma < 0.05
    assert abs(noisy.mean()) < 0.05


def test_zero_sigma_adds_nothing():
    counts = np.array([3, 0, 5])
    assert noisy_histogram(counts, 0.0, 1, "none").tolist() == [3, 0, 5]


def test_threshold_subtracts_and_clips():
    noisy = np.array([-2.0, 0.5, 3.0, 10.0])
    assert apply_threshold(noisy, 2.0).tolist() == [0.0, 0.0, 1.0, 8.0]


@pytest.mark.parametrize("k", [1, 3])
def test_backends_give_the_same_counts(rng, k):
    synthetic, private = rng.normal(size=(300, 32)), rng.normal(size=(2000, 32))
    synthetic_labels, private_labels = np.arange(300) % 3, rng.integers(0, 3, 2000)
    counts = {
        backend: nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, k=k, batch_size=512, backend=backend)
        for backend in ("numpy", "torch", "faiss")
    }
    assert np.array_equal(counts["numpy"], counts["torch"])
    assert np.array_equal(counts["numpy"], counts["faiss"])
    assert counts["numpy"].sum() == 2000 * k


def test_unknown_backend():
    with pytest.raises(PEError, match="unknown nearest-neighbour backend"):
        nearest_neighbor_counts(np.zeros((1, 2)), np.array([0]), np.zeros((1, 2)), np.array([0]), backend="annoy")


def test_backends_agree_in_high_dimension_with_near_ties(rng):
    # In high dimension nearest distances crowd together, so float32 rounding alone
    # would flip some nearest neighbours between BLAS, torch and faiss.
    synthetic, private = rng.normal(size=(400, 768)), rng.normal(size=(6000, 768))
    labels_syn, labels_priv = np.zeros(400, int), np.zeros(6000, int)
    counts = [
        nearest_neighbor_counts(private, labels_priv, synthetic, labels_syn, backend=backend)
        for backend in ("numpy", "torch", "faiss")
    ]
    assert all(np.array_equal(counts[0], other) for other in counts[1:])


def test_exact_ties_go_to_the_lower_index():
    synthetic = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    private = np.zeros((3, 2))  # equidistant from every candidate
    for backend in ("numpy", "torch", "faiss"):
        counts = nearest_neighbor_counts(private, np.zeros(3, int), synthetic, np.zeros(3, int), backend=backend)
        assert counts.tolist() == [3, 0, 0], backend


_WITHOUT_FAISS = r"""
import importlib.abc, json, sys
import numpy as np

class NoFaiss(importlib.abc.MetaPathFinder):  # as if no faiss wheel were installed
    def find_spec(self, name, path=None, target=None):
        if name == "faiss" or name.startswith("faiss."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)

sys.meta_path.insert(0, NoFaiss())
from private_evolution import PEError
from private_evolution.vote import nearest_neighbor_counts

rng = np.random.default_rng(0)
synthetic, private = rng.normal(size=(90, 16)), rng.normal(size=(500, 16))
synthetic_labels, private_labels = np.arange(90) % 3, rng.integers(0, 3, 500)
out = {b: nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, k=2, backend=b).tolist()
       for b in ("numpy", "torch")}
try:
    nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, backend="faiss")
except PEError as err:
    out["faiss_error"] = str(err)
out["faiss_imported"] = "faiss" in sys.modules
print(json.dumps(out))
"""


def test_the_vote_works_without_faiss():
    """faiss is an optional extra: without it the numpy and torch backends give the counts
    faiss would, and asking for faiss says how to install it."""
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _WITHOUT_FAISS], capture_output=True, text=True, check=True)
    out = json.loads(result.stdout)
    assert out["numpy"] == out["torch"]
    assert sum(out["numpy"]) == 500 * 2
    assert "pip install 'pe-workflow[cpu]'" in out["faiss_error"] and "pe.nn_backend: numpy" in out["faiss_error"]
    assert not out["faiss_imported"]
    # the same data with faiss installed (this environment) gives the same counts
    rng = np.random.default_rng(0)
    synthetic, private = rng.normal(size=(90, 16)), rng.normal(size=(500, 16))
    synthetic_labels, private_labels = np.arange(90) % 3, rng.integers(0, 3, 500)
    with_faiss = nearest_neighbor_counts(private, private_labels, synthetic, synthetic_labels, k=2, backend="faiss")
    assert with_faiss.tolist() == out["numpy"]


def _with_duplicates(rng, copies=12, dim=24, others=40):
    """A class whose nearest candidate to every private sample exists in many exact copies,
    more than the float32 shortlist holds: the case where batch-dependent float32 rounding
    picks different copies for different batches."""
    centre = rng.normal(size=dim)
    synthetic = np.concatenate([rng.normal(size=(others, dim)) * 3.0, np.repeat(centre[None], copies, 0)])
    synthetic = synthetic[rng.permutation(len(synthetic))]
    private = centre + 0.05 * rng.normal(size=(301, dim))
    return synthetic, private


@pytest.mark.parametrize("backend", ["numpy", "torch", "faiss"])
@pytest.mark.parametrize("k", [1, 3])
def test_each_private_sample_votes_the_same_whatever_its_batch(rng, backend, k):
    """Sensitivity: a private sample's k votes depend on it and the candidates alone. Counts
    of the whole set, at any batch size, equal the sum of each sample's votes searched alone,
    and adding one private sample changes the counts by exactly its own k votes."""
    synthetic, private = _with_duplicates(rng)
    labels_syn, labels_priv = np.zeros(len(synthetic), int), np.zeros(len(private), int)

    def counts(features, batch_size):
        return nearest_neighbor_counts(features, labels_priv[: len(features)], synthetic, labels_syn, k=k,
                                       batch_size=batch_size, backend=backend)

    alone = [counts(private[i : i + 1], 1) for i in range(len(private))]
    for batch_size in (1, 7, 64, 1024):
        assert np.array_equal(counts(private, batch_size), np.sum(alone, axis=0)), batch_size
    without_last = counts(private[:-1], 64)
    assert np.abs(counts(private, 64) - without_last).sum() == k
    # the duplicates' votes go to the lowest-index copies, as an exact search over all would
    copies = np.flatnonzero((synthetic == synthetic[np.argmax(np.sum(alone, axis=0))]).all(axis=1))
    assert np.sum(alone, axis=0)[copies].tolist() == [len(private)] * k + [0] * (len(copies) - k)


def test_unproven_shortlists_are_searched_exactly(rng, monkeypatch):
    """Where the shortlist cannot be proven to hold the k nearest (more exact duplicates than
    it has room for), the answer is the exact float64 search over the whole class, ties to
    the lower index; where it can, the shortlist's answer is that same answer."""
    from private_evolution import vote

    synthetic, private = _with_duplicates(rng, copies=9)
    scans, exact_scan = [], vote._exact_scan
    monkeypatch.setattr(vote, "_exact_scan", lambda *a: scans.append(1) or exact_scan(*a))
    shortlist = vote._SEARCHERS["numpy"](synthetic.astype(np.float32), 2 + vote.RERANK_MARGIN)(private.astype(np.float32))
    largest_norm = float(np.sqrt((synthetic**2).sum(1).max()))
    nearest = vote._k_nearest(private, synthetic, shortlist, 2, largest_norm)
    everything = np.broadcast_to(np.arange(len(synthetic)), (len(private), len(synthetic)))
    exact = vote._k_smallest(vote._pair_distances(private, synthetic[everything]), everything, 2)
    assert np.array_equal(nearest, exact)
    assert len(scans) == len(private)  # 9 equal copies, 6 places: no shortlist is provable
    # far from the duplicates every shortlist is proven and no query is scanned
    scans.clear()
    spread = rng.normal(size=(60, 24)) * 3.0
    queries = spread[:20] + 0.01 * rng.normal(size=(20, 24))
    shortlist = vote._SEARCHERS["numpy"](spread.astype(np.float32), 6)(queries.astype(np.float32))
    nearest = vote._k_nearest(queries, spread, shortlist, 2, float(np.sqrt((spread**2).sum(1).max())))
    everything = np.broadcast_to(np.arange(60), (20, 60))
    assert np.array_equal(nearest, vote._k_smallest(vote._pair_distances(queries, spread[everything]), everything, 2))
    assert scans == []


def test_pair_distances_do_not_depend_on_their_neighbours(rng):
    from private_evolution.vote import _pair_distances

    table, queries = rng.normal(size=(37, 203)) * 5, rng.normal(size=(11, 203))
    everything = _pair_distances(queries, np.broadcast_to(table, (11, 37, 203)).copy())
    for q in (0, 5, 10):
        for rows in (slice(0, 1), slice(3, 30), slice(36, 37)):
            assert np.array_equal(_pair_distances(queries[q : q + 1], table[rows][None]), everything[q : q + 1, rows])


@pytest.mark.parametrize("backend", ["numpy", "torch", "faiss"])
def test_float32_scores_stay_within_the_error_bound(rng, backend):
    """The bound the shortlist's proof rests on holds for each backend's float32 scores,
    with large norms (an offset) where cancellation is worst."""
    from private_evolution.vote import _SEARCHERS, _pair_distances, float32_error_bound

    dim = 300
    table = rng.normal(size=(200, dim)) + 40.0
    queries = rng.normal(size=(64, dim)) + 40.0
    bound = float32_error_bound(np.sqrt((queries**2).sum(1)), float(np.sqrt((table**2).sum(1).max())), dim)
    exact = _pair_distances(queries, np.broadcast_to(table, (64, 200, dim)).copy()) - (queries**2).sum(1)[:, None]
    scores = _float32_scores(backend, table.astype(np.float32), queries.astype(np.float32))
    offset = scores - exact  # faiss includes ||q||^2 in float32: compare the ranking-relevant part
    if backend == "faiss":
        offset = offset - np.median(offset, axis=1, keepdims=True)
    assert (np.abs(offset) <= bound[:, None]).all()
    assert np.abs(offset).max() > 0  # float32 did round: the comparison is not vacuous
    assert _SEARCHERS[backend]  # the backend exists under that name


def _float32_scores(backend, table, queries):
    if backend == "numpy":
        return np.einsum("ij,ij->i", table, table)[None, :] - 2.0 * (queries @ table.T)
    if backend == "torch":
        import torch

        t, q = torch.from_numpy(table), torch.from_numpy(queries)
        return ((t * t).sum(1)[None, :] - 2.0 * (q @ t.T)).numpy()
    import faiss

    index = faiss.IndexFlatL2(table.shape[1])
    index.add(table)
    distances, ids = index.search(queries, len(table))
    scores = np.empty_like(distances)
    np.put_along_axis(scores, ids, distances, axis=1)
    return scores - (queries.astype(np.float64) ** 2).sum(1)[:, None]


@pytest.mark.parametrize("backend", ["numpy", "torch", "faiss"])
@pytest.mark.parametrize("scale", [1e20, 1e-30])
def test_no_shortlist_is_trusted_outside_float32s_range(rng, backend, scale):
    """The rounding bound is relative: it says nothing where float32 overflows (squares of
    norm-1e20 embeddings are inf, so the scores are inf or NaN whatever the float64 distances)
    or flushes to zero (norm-1e-30 embeddings all score 0). There the vote must still be the
    exact search, for each sample alone and for the whole set at any batch size."""
    synthetic = rng.normal(size=(20, 8)) * scale
    private = synthetic[rng.integers(0, 20, 12)] + rng.normal(size=(12, 8)) * scale * 0.01
    labels_syn, labels_priv = np.zeros(20, int), np.zeros(12, int)
    exact = np.zeros(20, int)
    np.add.at(exact, np.argsort(((private[:, None] - synthetic[None]) ** 2).sum(-1), 1, kind="stable")[:, 0], 1)
    with np.errstate(all="ignore"):
        for batch_size in (1, 5, 64):
            counts = nearest_neighbor_counts(private, labels_priv, synthetic, labels_syn, batch_size=batch_size, backend=backend)
            assert counts.tolist() == exact.tolist(), batch_size


@pytest.mark.parametrize("backend", ["numpy", "torch", "faiss"])
def test_a_sample_never_votes_twice_for_one_candidate(backend):
    """faiss answers id -1 for a query whose distances are NaN; where the shortlist is the whole
    class those ids must not become k votes for one candidate (an L2 sensitivity of k, not
    sqrt(k)). Embeddings are checked for NaN when loaded: this guards the function itself."""
    synthetic = np.arange(18, dtype=float).reshape(6, 3)
    private = np.array([[np.nan, 0.0, 0.0]])
    with np.errstate(all="ignore"):
        counts = nearest_neighbor_counts(private, np.zeros(1, int), synthetic, np.zeros(6, int), k=3, backend=backend)
    assert counts.max() == 1 and counts.sum() == 3


def test_pair_distances_do_not_depend_on_the_memory_layout(rng):
    """A Fortran-ordered or float32 table gives the same bits as a C-ordered float64 one:
    numpy would sum a strided last axis in another order."""
    from private_evolution.vote import _pair_distances

    table, query = rng.normal(size=(40, 300)) * 10.0 ** rng.uniform(-3, 3, size=300), rng.normal(size=(1, 300))
    reference = _pair_distances(query, table[None])
    assert np.array_equal(_pair_distances(query, np.asfortranarray(table)[None]), reference)
    single = table.astype(np.float32)
    assert np.array_equal(_pair_distances(query, np.asfortranarray(single)[None]), _pair_distances(query, single[None]))
