"""Shards: contiguous slices of a stage's samples, each one job, gathered before the vote.

Shard boundaries are cut at multiples of the stage's batch size, so that every
batch (and so every floating-point result) is the same whatever the shard
count; together with per-sample seeds this makes outputs independent of
``compute.shards``.
"""

from __future__ import annotations

import math

import numpy as np

from . import PEError
from .contract import ImageArrays
from .io import Population, load_npz, load_population, save_npz, save_population


def shard_bounds(total: int, shards: int, align: int = 1) -> list[tuple[int, int]]:
    """[begin, end) of each of ``shards`` slices of ``total`` items, cut at multiples of ``align``.

    Trailing shards are empty when there are fewer aligned blocks than shards.
    """
    if shards < 1 or align < 1:
        raise PEError(f"shards and align must be >= 1, got {shards} and {align}")
    blocks = math.ceil(total / align)
    per_shard = math.ceil(blocks / shards) if blocks else 0
    return [(min(i * per_shard * align, total), min((i + 1) * per_shard * align, total)) for i in range(shards)]


def shard_slice(total: int, shard: tuple[int, int] | None, align: int = 1) -> slice:
    """The slice of shard ``(index, count)``; ``None`` is everything."""
    if shard is None:
        return slice(0, total)
    index, count = shard
    begin, end = shard_bounds(total, count, align)[index]
    return slice(begin, end)


def job_part(shard, inputs) -> tuple[tuple[int, int] | None, list[str] | None]:
    """What a job of a sharded stage does, from its ``shard`` param and its inputs (the one
    test every stage script makes): ``(shard, None)`` for a shard job (``<rule>_shard``),
    ``(None, shard files)`` for the job gathering them (an input named ``shards``), and
    ``(None, None)`` for the whole stage in one job (compute.shards = 1)."""
    if shard:
        return (int(shard[0]), int(shard[1])), None
    if "shards" in inputs.keys():
        return None, list(inputs.shards)
    return None, None


def non_empty(parts: list, size) -> list:
    """The parts that hold samples (empty shards carry no shape to concatenate); at least one part."""
    kept = [part for part in parts if size(part) > 0]
    return kept or parts[:1]


def gather_arrays(paths: list[str], output_path: str) -> None:
    """Concatenate the arrays of shard .npz files (same keys) along the first axis."""
    # every sharded file (images, embeddings) has one label per sample
    parts = non_empty([load_npz(path) for path in paths], lambda part: len(part[ImageArrays.LABELS]))
    keys = list(parts[0])
    save_npz(output_path, **{key: np.concatenate([part[key] for part in parts]) for key in keys})


def gather_populations(paths: list[str], output_path: str) -> None:
    parts = non_empty([load_population(path) for path in paths], len)
    save_population(
        output_path,
        Population(
            images=np.concatenate([p.images for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
            state={name: np.concatenate([p.state[name] for p in parts]) for name in parts[0].state},
        ),
    )
