"""Stage vote: the DP nearest-neighbour histogram, the only stage that reads private embeddings.

Only the noisy histogram (and its thresholded form) leaves :func:`vote`; the
log (kept under private/logs/) gets only statistics of the noisy histogram. For
epsilon = inf there is no noise: that vote is written under private/ and everything
made from it is a non-private reference. Where the noise comes from and how every
draw is recorded: :mod:`private_evolution.noise`. With shards, :func:`vote_counts`
reads one private embedding shard and writes its clean counts under ``results/{exp}/private/`` and
:func:`vote` adds them up and adds the noise, once.
"""

from __future__ import annotations

import math
import secrets

import numpy as np

from ..contract import PrivacyFields
from ..io import load_clean_counts, load_computation, load_embeddings, read_json, save_clean_counts, save_votes, write_json
from ..preparation import preparation_key
from ..ledger import check_not_released, check_seed, find_draw, record_draw, record_label
from ..noise import SEARCH_PREFIX, computation_key, draw_key, draw_record, noise_seed, query_digest
from ..progress import Progress
from ..vote import apply_threshold, nearest_neighbor_counts, noisy_histogram
from . import logger


def _require_private(path: str, what: str) -> None:
    if "/private/" not in str(path).replace("\\", "/"):
        raise ValueError(f"{what} may only be written under private/, not to '{path}'")


def clean_counts(
    private_embeddings_path: str, population_embeddings_path: str, k: int, backend: str
) -> tuple[np.ndarray, np.ndarray]:
    """(votes per synthetic sample from the private samples in the file, synthetic labels). Not DP."""
    private_features, private_labels = load_embeddings(private_embeddings_path)
    synthetic_features, synthetic_labels = load_embeddings(population_embeddings_path)
    counts = nearest_neighbor_counts(
        private_features, private_labels, synthetic_features, synthetic_labels, k=k, backend=backend
    )
    return counts, synthetic_labels


def vote_counts(
    private_shard_path: str,
    population_embeddings_path: str,
    privacy_path: str,
    output_path: str,
    backend: str = "numpy",
) -> None:
    """One shard's clean counts, from that shard's private embeddings only (the file embed_real_shard
    wrote, so a shard job reads 1/S of the private set); ``output_path`` must be under
    results/{exp}/private/. Counts add up, so how the private set is cut changes nothing."""
    _require_private(output_path, "clean vote counts")
    k = read_json(privacy_path)[PrivacyFields.K]
    counts, labels = clean_counts(private_shard_path, population_embeddings_path, k, backend)
    save_clean_counts(output_path, counts, labels, counts_computation(private_shard_path, backend))


def counts_computation(private_embeddings_path: str, backend: str) -> list[str]:
    """How a vote's counts were computed, for its draw key: the computation ids of the private
    embeddings (noise.computation_id) and the search backend. A file that names no computation
    (written by an older version) gets a fresh random id: its votes are new draws."""
    ids = load_computation(private_embeddings_path) or [f"unnamed {secrets.token_hex(16)}"]
    # No host here: the final k neighbours come from float64 distances per pair (vote.py), the
    # same counts on any CPU; the embeddings' ids name the host that computed them. numpy's
    # version: its summation order decides float64 near-ties.
    search = f"{SEARCH_PREFIX}{backend}, numpy {np.__version__}"
    if backend != "numpy" and _gpu_present():  # a GPU search need not repeat bit for bit: a new draw each time
        search += f" on a GPU, {secrets.token_hex(16)}"
    return [*ids, search]


def _gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def vote(
    private_embeddings_path: str | None,
    population_embeddings_path: str,
    privacy_path: str,
    experiment: str,
    iteration: int,
    ledger_private: str,
    preparation_path: str,
    private_path: str,
    output_path: str,
    draw_path: str,
    backend: str = "numpy",
    shard_counts_paths: list[str] | None = None,
    split: str = "",
) -> None:
    """The noisy histogram: from the embeddings directly, or from the shards' clean counts
    (then ``private_embeddings_path`` is not read and may be None).

    The draw's key (:func:`noise.draw_key`) is made from what was asked before any count is
    looked at: the candidates (``population_embeddings_path``), privacy.json, ``private_path``
    (the digest of the code and config on the private path) and the id of the data set's preparation.
    The draw is recorded in the data set's ledger (``ledger_private``) before the noise is
    added, so a vote that fails afterwards is still counted; ``draw_path`` (under private/)
    names the draw for the release. Same key: the same noise (a resume). ``split`` names the
    private split of the source (ledger.split_id), for the ledger's choice of relation.
    """
    privacy = read_json(privacy_path)
    epsilon = float(privacy[PrivacyFields.EPSILON])
    sigma, threshold = privacy[PrivacyFields.SIGMA], privacy[PrivacyFields.THRESHOLD]
    if math.isinf(epsilon):
        _require_private(output_path, "the un-noised epsilon = inf vote")
    label = record_label(epsilon)
    candidates, synthetic_labels = load_embeddings(population_embeddings_path)
    preparation = preparation_key(read_json(preparation_path), privacy[PrivacyFields.SEED_MODE] == "secret")
    if shard_counts_paths:
        progress = Progress(len(shard_counts_paths), "gathering the shards' counts", unit="shard files")
        shards = []
        for path in shard_counts_paths:
            shards.append(load_clean_counts(path))
            progress.update(1)
        computation = [item for *_, ids in shards for item in ids]  # in shard order
    else:
        computation = counts_computation(private_embeddings_path, backend)
    key = draw_key(
        experiment, privacy, iteration, query_digest(candidates, synthetic_labels), private_path, preparation,
        computation_key(computation),
    )
    del candidates
    check_not_released(ledger_private, experiment, label, iteration, key)
    seed = noise_seed(privacy, ledger_private)
    record = draw_record(experiment, privacy, iteration, key, len(synthetic_labels), seed, split)
    check_seed(ledger_private, record)
    new = record_draw(ledger_private, record)  # counted from here on, whatever happens next
    if shard_counts_paths:
        counts = np.sum([shard_counts for shard_counts, *_ in shards], axis=0)
        del shards
    else:
        counts, _ = clean_counts(private_embeddings_path, population_embeddings_path, privacy[PrivacyFields.K], backend)
    noisy = noisy_histogram(counts, sigma, seed, key)  # integer noise, added once per draw
    del counts  # nothing un-noised leaves this function (epsilon = inf: its output stays under private/)
    thresholded = apply_threshold(noisy, threshold)
    save_votes(output_path, noisy, thresholded, synthetic_labels)
    write_json(draw_path, find_draw(ledger_private, key))
    logger.info(
        "vote eps=%s t=%d: sigma=%g H=%g, %s draw, %d of %d candidates above threshold%s",
        label, iteration, sigma, threshold, "new" if new else "resumed (same key)",
        int((thresholded > 0).sum()), len(thresholded),
        f" (gathered {len(shard_counts_paths)} shards)" if shard_counts_paths else "",
    )
