"""Stage lookahead (PE's lookahead): describe each candidate by where its variations go.

Each sample of a population is embedded as the mean embedding of L variations
of it, made with the degree of the variation that follows the vote. Private
samples then vote for candidates whose offspring resemble them, not only for
candidates that resemble them now. Touches no private data.

The candidates are varied and embedded chunk by chunk (:func:`candidates_per_chunk`), and a
shard (``shard = (index, count)``) is a run of whole chunks: every API batch and embedding
batch is then the same whatever the shard count, and with per-sample seeds so is every mean
embedding (bit for bit; tested).
"""

from __future__ import annotations

import math

import numpy as np

from ..apis import make_api
from ..embedders import embed_images, make_embedder
from ..io import load_population, save_embeddings
from ..seeding import epsilon_key, per_sample_seeds
from ..sharding import shard_slice
from . import logger


def lookahead_embeddings(variation_features: np.ndarray, num_candidates: int, lookahead: int) -> np.ndarray:
    """Mean over each candidate's ``lookahead`` consecutive variation embeddings."""
    return variation_features.reshape(num_candidates, lookahead, -1).mean(axis=1)


def candidates_per_chunk(api_batch: int, embed_batch: int, lookahead: int) -> int:
    """Candidates varied and embedded in one go: a whole number of the API's batches of candidates
    (k x api_batch, k the least with k x api_batch x L variations filling an embedding batch).

    A chunk's L variations per candidate are whole API batches (api_batch divides the chunk) and
    are embedded from the chunk's first image on, so chunks cut at multiples of this size make
    the same batches in any shard. Shards are cut at chunk boundaries: with k = 1 (an API batch's
    variations fill an embedding batch, as at the paper's CIFAR-10 scale) a lookahead shard holds
    the candidates of the population shard of the same index.
    """
    api_batch, embed_batch, lookahead = max(1, int(api_batch)), max(1, int(embed_batch)), max(1, int(lookahead))
    return api_batch * math.ceil(embed_batch / (api_batch * lookahead))


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
    shard: tuple[int, int] | None = None,
) -> None:
    """The mean embeddings of every candidate, or with ``shard = (index, count)`` of that shard's
    candidates (whole chunks; trailing shards are empty when there are fewer chunks than shards).
    Seeds are drawn for the whole population's variations and then sliced."""
    api = make_api(api_cfg, target["class_names"], target["image_size"], target["channels"], threads)
    population = load_population(population_path)
    count = len(population)
    chunk = candidates_per_chunk(api.batch_size, int(embedder_cfg.get("batch_size", 256)), lookahead_count)
    part = shard_slice(count, shard, align=chunk)
    seeds = per_sample_seeds(seed, count * lookahead_count, "lookahead", epsilon_key(epsilon), iteration)
    labels = population.labels[part]
    where = f" (shard {shard[0] + 1} of {shard[1]}: candidates {part.start}..{part.stop})" if shard else ""
    if part.start == part.stop:  # more shards than chunks: nothing to load a model for
        save_embeddings(output_path, np.zeros((0, 0), dtype=np.float32), labels)
        logger.info("lookahead epsilon %s t=%d: no candidates%s", epsilon_key(epsilon), iteration, where)
        return
    embedder = make_embedder({**embedder_cfg, "threads": threads})
    means = []
    for begin in range(part.start, part.stop, chunk):
        end = min(begin + chunk, part.stop)
        repeated = population.take(np.repeat(np.arange(begin, end), lookahead_count))
        variations = api.variation_api(repeated, degree, seeds[begin * lookahead_count : end * lookahead_count])
        features = embed_images(embedder, variations.images)
        means.append(lookahead_embeddings(features, end - begin, lookahead_count))
    save_embeddings(output_path, np.concatenate(means), labels)
    logger.info(
        "lookahead epsilon %s t=%d: %d candidates x %d variations at degree %g%s",
        epsilon_key(epsilon), iteration, part.stop - part.start, lookahead_count, degree, where,
    )
