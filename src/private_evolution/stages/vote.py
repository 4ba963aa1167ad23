"""Stage vote: the DP nearest-neighbour histogram, the only stage that reads private embeddings.

Only the noisy histogram (and its thresholded form) leaves this function; the
log gets only statistics of the noisy histogram.
"""

from __future__ import annotations

from ..io import load_embeddings, read_json, save_npz
from ..seeding import os_entropy_generator, stream
from ..vote import apply_threshold, nearest_neighbor_counts, noisy_histogram
from . import logger


def vote(
    private_embeddings_path: str,
    population_embeddings_path: str,
    privacy_path: str,
    iteration: int,
    run: str,
    output_path: str,
    backend: str = "numpy",
) -> None:
    privacy = read_json(privacy_path)
    private_features, private_labels = load_embeddings(private_embeddings_path)
    synthetic_features, synthetic_labels = load_embeddings(population_embeddings_path)
    counts = nearest_neighbor_counts(
        private_features, private_labels, synthetic_features, synthetic_labels, k=privacy["k"], backend=backend
    )
    from_os = not isinstance(privacy["noise_seed"], int)
    rng = os_entropy_generator() if from_os else stream(privacy["noise_seed"], "vote-noise", run, iteration)
    noisy = noisy_histogram(counts, privacy["sigma"], rng)
    del counts  # nothing un-noised leaves this function
    thresholded = apply_threshold(noisy, privacy["threshold"])
    save_npz(output_path, noisy_counts=noisy, weights=thresholded, labels=synthetic_labels)
    logger.info(
        "vote %s t=%d: sigma=%g H=%g, %d of %d candidates above threshold",
        run, iteration, privacy["sigma"], privacy["threshold"], int((thresholded > 0).sum()), len(thresholded),
    )
