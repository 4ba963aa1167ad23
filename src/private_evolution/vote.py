"""The DP nearest-neighbour vote: the only computation that touches private data.

Every private sample votes for its k nearest synthetic samples of its own class
(squared L2 distance in embedding space). Discrete Gaussian noise N_Z(0, sigma^2)
(integers, from a SHAKE-256 stream keyed by the secret seed: see discrete_gaussian.py)
is added to every count, the threshold H is subtracted and the result clipped at 0.
Classes partition the private set, so per-class votes compose in parallel and
the whole histogram has the L2 sensitivity of one class's histogram.
"""

from __future__ import annotations

import numpy as np

from . import PEError, PublicError
from .progress import Progress


NN_BACKENDS = ("numpy", "torch", "faiss")
# Each backend returns this many extra candidates, which are then re-ranked by exact
# float64 distances: float32 rounding differs between BLAS, torch and faiss, and in
# high dimension near-ties are common, so without the re-rank they disagree.
RERANK_MARGIN = 4


def _numpy_nearest(candidates: np.ndarray, k: int):
    norms = np.einsum("ij,ij->i", candidates, candidates)

    def search(queries: np.ndarray) -> np.ndarray:
        # ||q||^2 is the same for every candidate of a query: it cannot change the ranking.
        distances = norms[None, :] - 2.0 * (queries @ candidates.T)
        if k == 1:
            return distances.argmin(axis=1)[:, None]
        return np.argpartition(distances, k - 1, axis=1)[:, :k]

    return search


def _torch_nearest(candidates: np.ndarray, k: int):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    table = torch.from_numpy(candidates).to(device)
    norms = (table * table).sum(dim=1)

    def search(queries: np.ndarray) -> np.ndarray:
        q = torch.from_numpy(queries).to(device)
        distances = norms[None, :] - 2.0 * (q @ table.T)
        return distances.topk(k, dim=1, largest=False).indices.cpu().numpy()

    return search


def _faiss_nearest(candidates: np.ndarray, k: int):
    try:
        import faiss
    except ImportError as err:  # faiss is an optional extra: faiss-cpu and faiss-gpu both install the module
        raise PublicError(
            f"pe.nn_backend is 'faiss' but faiss cannot be imported ({err}). Install it with "
            "pip install 'pe-workflow[cpu]' (faiss-cpu) or 'pe-workflow[gpu]' (faiss-gpu-cu12), "
            "or set pe.nn_backend: numpy (or torch), which give the same counts"
        ) from err

    index = faiss.IndexFlatL2(candidates.shape[1])
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(np.ascontiguousarray(candidates))

    def search(queries: np.ndarray) -> np.ndarray:
        return index.search(np.ascontiguousarray(queries), k)[1]

    return search


_SEARCHERS = {"numpy": _numpy_nearest, "torch": _torch_nearest, "faiss": _faiss_nearest}


def nearest_neighbor_counts(
    private_features: np.ndarray,
    private_labels: np.ndarray,
    synthetic_features: np.ndarray,
    synthetic_labels: np.ndarray,
    k: int = 1,
    batch_size: int = 1024,
    backend: str = "numpy",
) -> np.ndarray:
    """Un-noised vote counts, one per synthetic sample (int64).

    Exact search by any backend: ``numpy`` (BLAS matmul), ``torch`` (matmul, on
    CUDA when available) or ``faiss`` (IndexFlatL2, on GPU when faiss has one)
    shortlists k + RERANK_MARGIN candidates in float32; the final k come from
    exact float64 distances, so every backend gives the same counts.

    This array is private: it must only ever be passed to :func:`noisy_histogram`
    (or saved under ``results/*/private/``).
    """
    if backend not in _SEARCHERS:
        raise PublicError(f"unknown nearest-neighbour backend '{backend}'; known: {list(NN_BACKENDS)}")
    counts = np.zeros(len(synthetic_features), dtype=np.int64)
    if len(private_features) == 0:  # an empty shard (more shards than embedding batches) votes for nothing
        return counts
    if private_features.shape[1] != synthetic_features.shape[1]:
        raise PEError(
            f"private embeddings are {private_features.shape[1]}-d but synthetic ones are "
            f"{synthetic_features.shape[1]}-d: both must come from the same embedder"
        )
    # Every check and every loop is over the candidates' classes (public), never over the private
    # labels: a class with no private sample is an empty histogram, not a failure or a message;
    # private samples of a class with no candidate cast no vote (that cannot raise the sensitivity).
    classes = []
    for label in np.unique(synthetic_labels):
        candidates = np.flatnonzero(synthetic_labels == label)
        if len(candidates) < k:
            raise PEError(
                f"class {label} has {len(candidates)} synthetic samples but each private sample "
                f"votes for k={k}: raise pe.num_samples or lower pe.k"
            )
        class_features = synthetic_features[candidates]
        shortlist = min(k + RERANK_MARGIN, len(candidates))
        classes.append((label, candidates, class_features, _SEARCHERS[backend](class_features.astype(np.float32), shortlist)))
    # The private samples are walked in file order, a batch at a time (each batch split by class):
    # the progress (a fraction of the private set, on the terminal) never marks where a class ends.
    progress = Progress(len(private_features), "nearest-neighbour vote", unit="private samples", total_is_public=True)
    for begin in range(0, len(private_features), batch_size):
        batch_labels = private_labels[begin : begin + batch_size]
        for label, candidates, class_features, search in classes:
            voters = begin + np.flatnonzero(batch_labels == label)
            if len(voters) == 0:
                continue
            batch = private_features[voters]
            nearest = _exact_rerank(batch, class_features, search(batch.astype(np.float32)), k)
            np.add.at(counts, candidates[nearest.ravel()], 1)
        progress.update(len(batch_labels))
    return counts


def _exact_rerank(queries: np.ndarray, table: np.ndarray, shortlist: np.ndarray, k: int) -> np.ndarray:
    """The k nearest of each query's shortlist by float64 distance; exact ties go to the lower index."""
    shortlist = np.sort(shortlist, axis=1)  # index order first, so the stable sort breaks ties by index
    differences = table[shortlist].astype(np.float64) - queries[:, None, :].astype(np.float64)
    distances = np.einsum("bmd,bmd->bm", differences, differences)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(shortlist, order, axis=1)


def noisy_histogram(counts: np.ndarray, sigma: float, seed: int, key: str) -> np.ndarray:
    """counts + N_Z(0, sigma^2) per entry (int64): integer noise, so the output has no
    floating-point low-order bits to leak through. The noise is
    ``discrete_gaussian.sample(sigma, counts.size, seed, key)``: the same secret ``seed``
    and draw ``key`` regenerate it bit for bit. sigma = 0 adds nothing (epsilon = inf).
    """
    from .discrete_gaussian import sample

    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noisy = np.asarray(counts).astype(np.int64)  # a copy: the caller's counts stay as they were
    if sigma > 0:
        noisy += sample(sigma, noisy.size, seed, key).reshape(noisy.shape)
    return noisy


def apply_threshold(noisy_counts: np.ndarray, threshold: float) -> np.ndarray:
    """max(noisy - H, 0): post-processing of the noisy histogram, so free of privacy cost."""
    return np.maximum(noisy_counts - threshold, 0.0)
