"""Stage evaluate: metrics against the held-out real set. NOT differentially private (reporting only)."""

from __future__ import annotations

from ..io import load_embeddings, write_json
from ..metrics import feature_statistics, frechet_distance
from . import logger


def evaluate(population_embeddings_path: str, heldout_embeddings_path: str, embedder_name: str, output_path: str) -> None:
    synthetic, _ = load_embeddings(population_embeddings_path)
    real, _ = load_embeddings(heldout_embeddings_path)
    distance = frechet_distance(*feature_statistics(synthetic), *feature_statistics(real))
    write_json(output_path, {f"fd_{embedder_name}": distance, "num_synthetic": len(synthetic), "num_real": len(real)})
    logger.info("fd_%s = %.4f", embedder_name, distance)
