"""Stage vary: VARIATION_API on the selected samples -> the next population."""

from __future__ import annotations

import numpy as np

from ..apis import make_api
from ..io import load_population, load_selection, save_population
from ..seeding import epsilon_key, per_sample_seeds
from ..sharding import shard_slice
from . import logger


def vary(
    api_cfg: dict,
    target: dict,
    population_path: str,
    selected_path: str,
    degree: float,
    iteration: int,
    epsilon: float,
    seed: int,
    output_path: str,
    shard: tuple[int, int] | None = None,
    threads: int | None = None,
) -> None:
    """Vary every selected sample, or with ``shard = (index, count)`` that shard's slice of them.

    Seeds are drawn for the whole population and then sliced, so that a sample's
    variation is the same whatever the shard count. ``threads``: the job's (see ``API.threads``).
    """
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"], threads)
    parents = load_population(population_path)
    selected = load_selection(selected_path)
    seeds = per_sample_seeds(seed, len(selected), "variation_api", epsilon_key(epsilon), iteration)
    part = shard_slice(len(selected), shard, align=api.batch_size)
    chosen = parents.take(selected[part])
    children = api.variation_api(chosen, degree, seeds[part]) if len(chosen) else chosen
    save_population(output_path, children)
    logger.info(
        "VARIATION_API t=%d degree=%g: %d samples from %d distinct parents%s",
        iteration, degree, len(children), len(np.unique(selected[part])),
        f" (shard {shard[0] + 1} of {shard[1]})" if shard else "",
    )
