"""Stage vary: VARIATION_API on the selected samples -> the next population."""

from __future__ import annotations

import numpy as np

from ..apis import make_api
from ..io import load_npz, load_population, save_population
from ..seeding import per_sample_seeds
from . import logger


def vary(
    api_cfg: dict,
    target: dict,
    population_path: str,
    selected_path: str,
    degree: float,
    iteration: int,
    run: str,
    seed: int,
    output_path: str,
) -> None:
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"])
    parents = load_population(population_path)
    selected = load_npz(selected_path, required=("parent_ids",))["parent_ids"]
    chosen = parents.take(selected)
    seeds = per_sample_seeds(seed, len(chosen), "variation_api", run, iteration)
    children = api.variation_api(chosen, degree, seeds)
    save_population(output_path, children)
    logger.info(
        "VARIATION_API t=%d degree=%g: %d samples from %d distinct parents",
        iteration, degree, len(children), len(np.unique(selected)),
    )
