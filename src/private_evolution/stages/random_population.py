"""Stage random_population: RANDOM_API. Touches no private data."""

from __future__ import annotations

import numpy as np

from ..apis import balanced_labels, make_api
from ..io import Population, save_population
from ..seeding import per_sample_seeds
from ..sharding import shard_slice
from . import logger


def random_population(
    api_cfg: dict, target: dict, num_samples: int, seed: int, output_path: str, shard: tuple[int, int] | None = None,
    threads: int | None = None,
) -> None:
    """``target``: class names, image size and channels, from the config (public).
    With ``shard = (index, count)``, only that shard's slice of the samples. ``threads``: the
    job's (see ``API.threads``)."""
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"], threads)
    labels = balanced_labels(num_samples, len(target["class_names"]))
    seeds = per_sample_seeds(seed, num_samples, "random_api")
    part = shard_slice(num_samples, shard, align=api.batch_size)
    if part.start == part.stop:  # more shards than batches: an empty shard, no model loaded
        size, channels = target["image_size"], target["channels"]
        population = Population(np.zeros((0, size, size, channels), np.uint8), labels[part].astype(np.int64))
    else:
        population = api.random_api(labels[part], seeds[part])
    save_population(output_path, population)
    logger.info("RANDOM_API: %d samples%s", len(population), f" (shard {shard[0] + 1} of {shard[1]})" if shard else "")
