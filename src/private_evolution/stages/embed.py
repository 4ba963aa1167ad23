"""Stage embed: embed the images of a population, or of the private / held-out set."""

from __future__ import annotations

import numpy as np

from ..devices import resolve_device
from ..embedders import embed_images, make_embedder
from ..io import load_images, save_embeddings
from ..noise import EMPTY_SHARD, computation_id
from ..sharding import gather_arrays, shard_slice


def embed(
    images_path: str, output_path: str, embedder_cfg: dict, threads: int | None = None, shard: tuple[int, int] | None = None
) -> None:
    """Embed every image, or with ``shard = (index, count)`` that shard's slice (cut at batch boundaries).
    The real sets' embeddings (under private/) name the computation that made them
    (noise.computation_id, part of every noise draw's key)."""
    images, labels = load_images(images_path)
    part = shard_slice(len(labels), shard, align=int(embedder_cfg.get("batch_size", 256)))
    images, labels = images[part], labels[part]
    settings = {**embedder_cfg, "threads": threads}
    private = "/private/" in str(output_path).replace("\\", "/")
    if len(images) == 0:  # more shards than batches: nothing to load a network for, nothing counted
        save_embeddings(output_path, np.zeros((0, 0), dtype=np.float32), labels, EMPTY_SHARD if private else None)
        return
    embedder = make_embedder(settings)
    features = embed_images(embedder, images, private=private)
    # named after the fact: whether torch ran decides whether its version names the computation
    computation = computation_id(settings, _device(embedder, embedder_cfg)) if private else None
    save_embeddings(output_path, features, labels, computation)


def _device(embedder, embedder_cfg: dict) -> str:
    """The CPU for an embedder that declares it never uses another device; else its configured one."""
    if getattr(embedder, "cpu_only", False):
        return "cpu"
    return resolve_device(str(embedder_cfg.get("device", "auto")))


def gather_embeddings(shard_paths: list[str], output_path: str) -> None:
    gather_arrays(shard_paths, output_path)
