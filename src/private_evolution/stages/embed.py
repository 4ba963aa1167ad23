"""Stage embed: embed the images of a population, or of the private / held-out set."""

from __future__ import annotations

import numpy as np

from ..devices import resolve_device
from ..embedders import embed_images, embedder_class, make_embedder
from ..io import load_images, save_embeddings
from ..noise import computation_id
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
    computation = None
    if "/private/" in str(output_path).replace("\\", "/"):
        uses_torch = embedder_class(embedder_cfg["name"]).uses_torch
        device = resolve_device(str(embedder_cfg.get("device", "auto"))) if uses_torch else "cpu"
        computation = computation_id(settings, device, uses_torch)
    if len(images) == 0:  # more shards than batches: nothing to load a network for
        save_embeddings(output_path, np.zeros((0, 0), dtype=np.float32), labels, computation)
        return
    embedder = make_embedder(settings)
    save_embeddings(output_path, embed_images(embedder, images, private=computation is not None), labels, computation)


def gather_embeddings(shard_paths: list[str], output_path: str) -> None:
    gather_arrays(shard_paths, output_path)
