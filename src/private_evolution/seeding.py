"""Named, reproducible random streams.

Each stage draws from a generator keyed by (base seed, stage, run, iteration),
so that stages never share a stream and a rerun of one job reproduces it.
"""

from __future__ import annotations

import hashlib

import numpy as np


def key_to_int(key: object) -> int:
    digest = hashlib.sha256(str(key).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def stream(base_seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(base_seed), *map(key_to_int, keys)]))


def per_sample_seeds(base_seed: int, count: int, *keys: object) -> np.ndarray:
    """One independent 64-bit seed per sample: sample i's randomness does not depend
    on how many samples are generated together (batching and shards stay invisible)."""
    sequence = np.random.SeedSequence([int(base_seed), *map(key_to_int, keys)])
    return sequence.generate_state(count * 2, dtype=np.uint32).view(np.uint64).copy()


