"""Stage lookahead (PE's lookahead): describe each candidate by where its variations go.

Each sample of a population is embedded as the mean embedding of L variations
of it, made with the degree of the variation that follows the vote. Private
samples then vote for candidates whose offspring resemble them, not only for
candidates that resemble them now. Touches no private data.
"""

from __future__ import annotations

import numpy as np

from ..apis import make_api
from ..embedders import embed_images, make_embedder
from ..io import load_population, save_embeddings
from ..seeding import epsilon_key, per_sample_seeds
from . import logger


def lookahead_embeddings(variation_features: np.ndarray, num_candidates: int, lookahead: int) -> np.ndarray:
    """Mean over each candidate's ``lookahead`` consecutive variation embeddings."""
    return variation_features.reshape(num_candidates, lookahead, -1).mean(axis=1)


def lookahead(
    api_cfg: dict,
    target: dict,
    embedder_cfg: dict,
    population_path: str,
    degree: float,
    lookahead_count: int,
    iteration: int,
    epsilon: float | None,
    seed: int,
    output_path: str,
    threads: int | None = None,
) -> None:
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"])
    population = load_population(population_path)
    repeated = population.take(np.repeat(np.arange(len(population)), lookahead_count))
    seeds = per_sample_seeds(seed, len(repeated), "lookahead", epsilon_key(epsilon), iteration)
    variations = api.variation_api(repeated, degree, seeds)
    features = embed_images(make_embedder({**embedder_cfg, "threads": threads}), variations.images)
    save_embeddings(output_path, lookahead_embeddings(features, len(population), lookahead_count), population.labels)
    logger.info("lookahead epsilon %s t=%d: %d candidates x %d variations at degree %g", epsilon_key(epsilon), iteration, len(population), lookahead_count, degree)
