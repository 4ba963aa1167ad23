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
