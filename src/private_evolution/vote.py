"""The DP nearest-neighbour vote: the only computation that touches private data.

Every private sample votes for its k nearest synthetic samples of its own class
(squared L2 distance in embedding space). Discrete Gaussian noise N_Z(0, sigma^2)
(integers, from a SHAKE-256 stream keyed by the secret seed: see discrete_gaussian.py)
is added to every count, the threshold H is subtracted and the result clipped at 0.
Classes partition the private set, so per-class votes compose in parallel and
the whole histogram has the L2 sensitivity of one class's histogram.

That sensitivity (one sample moves k counts by 1) needs each sample's k votes to be
a function of that sample and the candidates only: never of the batch, the shard or
the other private samples searched beside it. Float32 search does not give that (its
rounding changes with the matrix shape, and with exact duplicates among the
candidates it picks different copies), so the k come from float64 distances computed
per pair in one fixed way, and the float32 shortlist is trusted only where a rounding
bound proves it complete (see :func:`_k_nearest`).
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
# A float32 shortlist is only trusted when it provably holds every candidate that can rank
# among a query's k nearest; otherwise that query is searched exactly over its whole class.
# The float32 scores depend on the batch a query is searched in (BLAS kernels differ by shape
# and position), so without the proof one private sample's presence could move another
# sample's votes between exact duplicates: a sensitivity above k.
_FLOAT32_UNIT_ROUNDOFF = 2.0**-24
_EXACT_SCAN_BYTES = 64 * 2**20


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
    # float32 products in full precision (no TF32 on CUDA): float32_error_bound assumes them.
    torch.set_float32_matmul_precision("highest")
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
    # A GPU flat index computes in float32 unless asked for float16 (we never ask): the
    # bound of float32_error_bound holds for it as for the CPU index.
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
    float64 distances (one fixed computation per pair), ties to the lower index.
    A query whose shortlist cannot be proven to hold all its k nearest (exact
    duplicates or near-ties beyond the float32 error bound) is searched exactly
    over its class instead. Each private sample's k votes are therefore a function
    of that sample and the candidates alone, never of the batch it was searched in
    or of the other private samples (the sensitivity the accountant assumes), and
    every backend, batch size and shard count gives the same counts.

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
        search = _SEARCHERS[backend](class_features.astype(np.float32), shortlist)
        largest_norm = float(np.sqrt(np.square(class_features, dtype=np.float64).sum(axis=1).max()))
        classes.append((label, candidates, class_features, search, largest_norm))
    # The private samples are walked in file order, a batch at a time (each batch split by class):
    # the progress (a fraction of the private set, on the terminal) never marks where a class ends.
    progress = Progress(len(private_features), "nearest-neighbour vote", unit="private samples", total_is_public=True)
    for begin in range(0, len(private_features), batch_size):
        batch_labels = private_labels[begin : begin + batch_size]
        for label, candidates, class_features, search, largest_norm in classes:
            voters = begin + np.flatnonzero(batch_labels == label)
            if len(voters) == 0:
                continue
            batch = private_features[voters].astype(np.float64)
            nearest = _k_nearest(batch, class_features, search(batch.astype(np.float32)), k, largest_norm)
            np.add.at(counts, candidates[nearest.ravel()], 1)
        progress.update(len(batch_labels))
    return counts


def _pair_distances(queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared L2 distances, float64, (b, d) x (b, m, d) -> (b, m). Each value is computed
    the same way whatever b and m are (elementwise differences, then numpy's fixed
    summation over the contiguous last axis), so a pair's distance never depends on
    which other pairs were computed beside it. C order whatever the inputs' layout: numpy sums a
    strided axis in another order, which changes the last bits."""
    differences = np.subtract(rows, queries[:, None, :], dtype=np.float64, order="C")
    return np.square(differences).sum(axis=2)


def _k_smallest(distances: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Per row, the k ids of smallest distance; exact ties go to the lower id."""
    order = np.argsort(ids, axis=1, kind="stable")  # id order first, so the stable sort breaks ties by id
    ids, distances = np.take_along_axis(ids, order, axis=1), np.take_along_axis(distances, order, axis=1)
    return np.take_along_axis(ids, np.argsort(distances, axis=1, kind="stable")[:, :k], axis=1)


def float32_error_bound(query_norms: np.ndarray, largest_norm: float, dim: int) -> np.ndarray:
    """An upper bound, per query, on how far any backend's float32 ranking score of a
    candidate (||c||^2 - 2 q.c, with or without ||q||^2) can lie from the float64 squared
    distance minus ||q||^2: the inputs' rounding to float32, then sums of dim products in
    any order and with or without fused multiply-adds (|error| <= gamma_dim * sum of
    |terms| <= gamma_dim * (||q|| + ||c||)^2), with room for the few final additions and
    the float64 computation's own rounding. That bound is relative, so it holds only inside
    float32's range: where a score could overflow (squares above 2^120, near float32's 2^128)
    the bound is infinite (no shortlist is trusted), and results that underflow (even flushed
    to zero, as some kernels do) add an absolute error of 2^-126 per input and per operation."""
    unit = _FLOAT32_UNIT_ROUNDOFF
    gamma = (dim + 8) * unit / (1.0 - (dim + 8) * unit)
    scale = query_norms + largest_norm
    relative = 1.25 * (gamma + 8 * unit) * scale**2
    underflow = 8 * (dim + 8) * 2.0**-126 * (1.0 + scale)
    valid = (scale < 2.0**60) & ((dim + 8) * unit < 0.5)  # gamma's formula needs (dim + 8) u < 1
    return np.where(valid, relative + underflow, np.inf)


def _k_nearest(queries: np.ndarray, table: np.ndarray, shortlist: np.ndarray, k: int, largest_norm: float) -> np.ndarray:
    """The k nearest rows of ``table`` for each query (float64 distances, ties to the lower
    index), from the backend's float32 shortlist where it provably holds them, else by
    an exact scan of the whole table.

    A candidate outside the shortlist scores at least as much in float32 as every one
    inside, so its float64 distance is at least (the shortlist's largest) - 2 x bound. When
    that exceeds the shortlist's k-th distance, nothing outside can rank or tie among the k
    nearest: the shortlist's answer is the whole table's answer."""
    if shortlist.shape[1] == len(table):  # every row: the backend's ids (faiss answers -1 for NaN) are not needed
        everything = np.broadcast_to(np.arange(len(table)), shortlist.shape)
        return _k_smallest(_pair_distances(queries, table[everything]), everything, k)
    distances = _pair_distances(queries, table[shortlist])
    kth = np.partition(distances, k - 1, axis=1)[:, k - 1]
    bound = float32_error_bound(np.sqrt(np.square(queries).sum(axis=1)), largest_norm, table.shape[1])
    proven = (distances.max(axis=1) - 2.0 * bound > kth) & (shortlist >= 0).all(axis=1)
    nearest = np.empty((len(queries), k), dtype=np.int64)
    nearest[proven] = _k_smallest(distances[proven], shortlist[proven], k)
    for row in np.flatnonzero(~proven):
        nearest[row] = _exact_scan(queries[row], table, k)
    return nearest


def _exact_scan(query: np.ndarray, table: np.ndarray, k: int) -> np.ndarray:
    """The k nearest rows of ``table`` to one query by float64 distance over every row,
    a block of rows at a time (bounded memory), ties to the lower index."""
    block = max(1, _EXACT_SCAN_BYTES // (8 * table.shape[1]))
    distances = np.concatenate(
        [_pair_distances(query[None, :], table[begin : begin + block][None])[0] for begin in range(0, len(table), block)]
    )
    return _k_smallest(distances[None, :], np.arange(len(table))[None, :], k)[0]


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
