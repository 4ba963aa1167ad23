"""Named, reproducible random streams.

Each stage draws from a generator keyed by what it is (base seed, stage, epsilon,
iteration), so that stages never share a stream and a rerun of one job reproduces it.
Keys are values, never folder names: renaming a folder changes no random number.
"""

from __future__ import annotations

import hashlib

import numpy as np


def key_to_int(key: object) -> int:
    digest = hashlib.sha256(str(key).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def epsilon_key(epsilon: float | None) -> str:
    """An epsilon as a stream key, by value (1, 1.0 and "1" are one stream; inf is "inf");
    None for the iteration-0 population that every epsilon shares."""
    return "shared" if epsilon is None else repr(float(epsilon))


def stream(base_seed: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(base_seed), *map(key_to_int, keys)]))


def per_sample_seeds(base_seed: int, count: int, *keys: object) -> np.ndarray:
    """One independent 64-bit seed per sample: sample i's randomness does not depend
    on how many samples are generated together (batching and shards stay invisible)."""
    sequence = np.random.SeedSequence([int(base_seed), *map(key_to_int, keys)])
    return sequence.generate_state(count * 2, dtype=np.uint32).view(np.uint64).copy()


