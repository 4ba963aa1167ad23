"""Stage random_population: RANDOM_API. Touches no private data."""

from __future__ import annotations

from ..apis import balanced_labels, make_api
from ..io import save_population
from ..seeding import per_sample_seeds
from . import logger


def random_population(api_cfg: dict, target: dict, num_samples: int, seed: int, output_path: str) -> None:
    """``target``: class names, image size and channels, from the config (public)."""
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"])
    labels = balanced_labels(num_samples, len(target["class_names"]))
    population = api.random_api(labels, per_sample_seeds(seed, num_samples, "random_api"))
    save_population(output_path, population)
    logger.info("RANDOM_API: %d samples", num_samples)
