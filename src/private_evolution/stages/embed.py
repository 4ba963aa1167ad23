"""Stage embed: embed the images of a population, or of the private / held-out set."""

from __future__ import annotations

from ..embedders import embed_images, make_embedder
from ..io import load_npz, save_embeddings


def embed(images_path: str, output_path: str, embedder_cfg: dict, threads: int | None = None) -> None:
    arrays = load_npz(images_path, required=("images", "labels"))
    embedder = make_embedder({**embedder_cfg, "threads": threads})
    features = embed_images(embedder, arrays["images"])
    save_embeddings(output_path, features, arrays["labels"])
