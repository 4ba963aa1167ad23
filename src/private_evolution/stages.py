"""One function per workflow stage, from input files to output files.

The rule scripts in ``src/scripts`` only unpack Snakemake's objects and call
these; ``benchmarks/`` call the same functions in one process.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from . import PEError
from .accounting import calibrate_sigma, privacy_record, vote_sensitivity
from .apis import balanced_labels, make_api
from .datasets import load_dataset, split_private_heldout
from .io import (
    load_embeddings,
    load_npz,
    load_population,
    read_json,
    save_embeddings,
    save_npz,
    save_population,
    write_json,
)
from .seeding import os_entropy_generator, per_sample_seeds, stream

logger = logging.getLogger("private_evolution")


def prepare_private(dataset_cfg: dict, private_path: str, heldout_path: str) -> None:
    data = load_dataset(dataset_cfg)
    if data.class_names != dataset_cfg["class_names"]:
        raise PEError(
            f"the data's classes {data.class_names} differ from dataset.class_names {dataset_cfg['class_names']}"
        )
    private, heldout = split_private_heldout(
        data, dataset_cfg["num_private"], dataset_cfg["num_heldout"], dataset_cfg["split_seed"]
    )
    save_npz(private_path, images=private.images, labels=private.labels)
    save_npz(heldout_path, images=heldout.images, labels=heldout.labels)
    logger.info("private set: %d images; held-out set: %d images", len(private.images), len(heldout.images))


def embed(images_path: str, output_path: str, embedder_cfg: dict, threads: int | None = None) -> None:
    """Embed the images of a population or of a private / held-out set."""
    from .embedders import embed_images, make_embedder


    arrays = load_npz(images_path, required=("images", "labels"))
    embedder = make_embedder({**embedder_cfg, "threads": threads})
    features = embed_images(embedder, arrays["images"])
    save_embeddings(output_path, features, arrays["labels"])


def calibrate(privacy_cfg: dict, epsilon: float, iterations: int, k: int, threshold: dict, output_path: str) -> None:
    sigma = calibrate_sigma(epsilon, privacy_cfg["delta"], iterations, sensitivity=vote_sensitivity(k))
    seed = "os-entropy (not recorded)" if privacy_cfg["seed_from_os"] else privacy_cfg["seed"]
    record = privacy_record(epsilon, privacy_cfg["delta"], iterations, k, vote_threshold(threshold, sigma), sigma, seed)
    write_json(output_path, record)
    logger.info("epsilon=%s delta=%g T=%d k=%d -> sigma=%g", epsilon, privacy_cfg["delta"], iterations, k, sigma)


def vote_threshold(threshold: dict, sigma: float) -> float:
    """H = votes + sigmas * sigma: an absolute part and a part that scales with the noise."""
    return float(threshold["votes"] + threshold["sigmas"] * sigma)


def random_population(api_cfg: dict, dataset_cfg: dict, num_samples: int, seed: int, output_path: str) -> None:
    api = make_api(api_cfg, dataset_cfg["class_names"], dataset_cfg["image_size"], dataset_cfg["channels"])
    labels = balanced_labels(num_samples, len(dataset_cfg["class_names"]))
    population = api.random_api(labels, per_sample_seeds(seed, num_samples, "random_api"))
    save_population(output_path, population)
    logger.info("RANDOM_API: %d samples", num_samples)


def vote(
    private_embeddings_path: str,
    population_embeddings_path: str,
    privacy_path: str,
    iteration: int,
    run: str,
    output_path: str,
) -> None:
    """The DP vote. Only the noisy, thresholded histogram is written (and only noisy stats logged)."""
    from .vote import apply_threshold, nearest_neighbor_counts, noisy_histogram

    privacy = read_json(privacy_path)
    private_features, private_labels = load_embeddings(private_embeddings_path)
    synthetic_features, synthetic_labels = load_embeddings(population_embeddings_path)
    counts = nearest_neighbor_counts(
        private_features, private_labels, synthetic_features, synthetic_labels, k=privacy["k"]
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


def select(votes_path: str, iteration: int, run: str, seed: int, output_path: str) -> None:
    from .select import resample_ids

    votes = load_npz(votes_path, required=("weights", "labels"))
    ids, uniform = resample_ids(votes["weights"], votes["labels"], stream(seed, "select", run, iteration))
    if uniform:
        logger.warning("classes %s had no candidate above the threshold: resampled uniformly", uniform)
    save_npz(output_path, parent_ids=ids)


def vary(
    api_cfg: dict,
    dataset_cfg: dict,
    population_path: str,
    selected_path: str,
    degree: float,
    iteration: int,
    run: str,
    seed: int,
    output_path: str,
) -> None:
    api = make_api(api_cfg, dataset_cfg["class_names"], dataset_cfg["image_size"], dataset_cfg["channels"])
    parents = load_population(population_path)
    selected = load_npz(selected_path, required=("parent_ids",))["parent_ids"]
    chosen = parents.take(selected)
    children = api.variation_api(chosen, degree, per_sample_seeds(seed, len(chosen), "variation_api", run, iteration))
    save_population(output_path, children)
    logger.info("VARIATION_API t=%d degree=%g: %d samples from %d distinct parents", iteration, degree, len(children), len(np.unique(selected)))


def evaluate(
    population_embeddings_path: str, heldout_embeddings_path: str, embedder_name: str, output_path: str
) -> None:
    """Metrics against the held-out real set. NOT differentially private (reporting only)."""
    from .metrics import feature_statistics, frechet_distance

    synthetic, _ = load_embeddings(population_embeddings_path)
    real, _ = load_embeddings(heldout_embeddings_path)
    distance = frechet_distance(*feature_statistics(synthetic), *feature_statistics(real))
    write_json(output_path, {f"fd_{embedder_name}": distance, "num_synthetic": len(synthetic), "num_real": len(real)})
    logger.info("fd_%s = %.4f", embedder_name, distance)


def epsilon_value(label: str) -> float:
    value = float(label)
    if not (value > 0 or math.isinf(value)):
        raise PEError(f"bad epsilon '{label}'")
    return value
