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

import numpy as np

from ..config import epsilon_label
from ..contract import PrivacyFields
from ..io import load_clean_counts, load_embeddings, read_json, save_clean_counts, save_votes, write_json
from ..noise import check_not_released, draw_digest, draw_record, noise_generator, noise_seed, record_draw
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
    save_clean_counts(output_path, counts, labels)


def vote(
    private_embeddings_path: str | None,
    population_embeddings_path: str,
    privacy_path: str,
    experiment: str,
    iteration: int,
    private_dir: str,
    output_path: str,
    draw_path: str,
    backend: str = "numpy",
    shard_counts_paths: list[str] | None = None,
) -> None:
    """The noisy histogram: from the embeddings directly, or from the shards' clean counts
    (then ``private_embeddings_path`` is not read and may be None).

    The noise comes from the experiment's noise seed (secret by default, see
    :mod:`private_evolution.noise`) and a stream keyed by experiment, epsilon,
    iteration and the digest of the clean counts; the draw is recorded in the
    private ledger, and ``draw_path`` (under private/) names it for the release.
    """
    privacy = read_json(privacy_path)
    if shard_counts_paths:
        shards = [load_clean_counts(path) for path in shard_counts_paths]
        counts = np.sum([shard_counts for shard_counts, _ in shards], axis=0)
        synthetic_labels = shards[0][1]
        del shards
    else:
        counts, synthetic_labels = clean_counts(private_embeddings_path, population_embeddings_path, privacy[PrivacyFields.K], backend)
    epsilon = float(privacy[PrivacyFields.EPSILON])
    sigma, threshold = privacy[PrivacyFields.SIGMA], privacy[PrivacyFields.THRESHOLD]
    if math.isinf(epsilon):
        _require_private(output_path, "the un-noised epsilon = inf vote")
    digest = draw_digest(counts, synthetic_labels, sigma)
    label = epsilon_label(epsilon)
    check_not_released(private_dir, label, iteration, digest)
    rng = noise_generator(noise_seed(privacy, private_dir), experiment, epsilon, iteration, digest)
    noisy = noisy_histogram(counts, sigma, rng)  # the noise, added once per iteration
    del counts  # nothing un-noised leaves this function (epsilon = inf: its output stays under private/)
    thresholded = apply_threshold(noisy, threshold)
    save_votes(output_path, noisy, thresholded, synthetic_labels)
    record = draw_record(experiment, privacy, iteration, digest)
    record_draw(private_dir, record)
    write_json(draw_path, record)
    logger.info(
        "vote eps=%s t=%d: sigma=%g H=%g, %d of %d candidates above threshold%s",
        label, iteration, sigma, threshold, int((thresholded > 0).sum()), len(thresholded),
        f" (gathered {len(shard_counts_paths)} shards)" if shard_counts_paths else "",
    )
