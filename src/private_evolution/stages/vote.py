"""Stage vote: the DP nearest-neighbour histogram, the only stage that reads private embeddings.

Only the noisy histogram (and its thresholded form) leaves :func:`vote`; the
log gets only statistics of the noisy histogram. With shards, :func:`vote_counts`
writes each private shard's clean counts under ``results/{exp}/private/`` and
:func:`vote` adds them up and adds the noise, once.
"""

from __future__ import annotations

import numpy as np

from ..io import load_embeddings, load_npz, read_json, save_npz
from ..seeding import os_entropy_generator, stream
from ..sharding import shard_slice
from ..vote import apply_threshold, nearest_neighbor_counts, noisy_histogram
from . import logger


def clean_counts(
    private_embeddings_path: str, population_embeddings_path: str, k: int, backend: str, shard: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(votes per synthetic sample from the private samples of ``shard``, synthetic labels). Not DP."""
    private_features, private_labels = load_embeddings(private_embeddings_path)
    synthetic_features, synthetic_labels = load_embeddings(population_embeddings_path)
    part = shard_slice(len(private_labels), shard)
    counts = nearest_neighbor_counts(
        private_features[part], private_labels[part], synthetic_features, synthetic_labels, k=k, backend=backend
    )
    return counts, synthetic_labels


def vote_counts(
    private_embeddings_path: str,
    population_embeddings_path: str,
    privacy_path: str,
    shard: tuple[int, int],
    output_path: str,
    backend: str = "numpy",
) -> None:
    """One shard's clean counts; ``output_path`` must be under results/{exp}/private/."""
    if "/private/" not in str(output_path).replace("\\", "/"):
        raise ValueError(f"clean vote counts may only be written under private/, not to '{output_path}'")
    k = read_json(privacy_path)["k"]
    counts, labels = clean_counts(private_embeddings_path, population_embeddings_path, k, backend, shard)
    save_npz(output_path, counts=counts, labels=labels)


def vote(
    private_embeddings_path: str,
    population_embeddings_path: str,
    privacy_path: str,
    iteration: int,
    run: str,
    output_path: str,
    backend: str = "numpy",
    shard_counts_paths: list[str] | None = None,
) -> None:
    """The noisy histogram: from the embeddings directly, or from the shards' clean counts."""
    privacy = read_json(privacy_path)
    if shard_counts_paths:
        shards = [load_npz(path, required=("counts", "labels")) for path in shard_counts_paths]
        counts = np.sum([shard["counts"] for shard in shards], axis=0)
        synthetic_labels = shards[0]["labels"]
        del shards
    else:
        counts, synthetic_labels = clean_counts(private_embeddings_path, population_embeddings_path, privacy["k"], backend)
    from_os = not isinstance(privacy["noise_seed"], int)
    rng = os_entropy_generator() if from_os else stream(privacy["noise_seed"], "vote-noise", run, iteration)
    noisy = noisy_histogram(counts, privacy["sigma"], rng)  # the noise, added once per iteration
    del counts  # nothing un-noised leaves this function
    thresholded = apply_threshold(noisy, privacy["threshold"])
    save_npz(output_path, noisy_counts=noisy, weights=thresholded, labels=synthetic_labels)
    logger.info(
        "vote %s t=%d: sigma=%g H=%g, %d of %d candidates above threshold%s",
        run, iteration, privacy["sigma"], privacy["threshold"], int((thresholded > 0).sum()), len(thresholded),
        f" (gathered {len(shard_counts_paths)} shards)" if shard_counts_paths else "",
    )
