"""Rule evaluate: FD (or FID), precision and recall of one population vs held-out real data (NOT private)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate

with stage_logging(snakemake.log[0], f"evaluate {snakemake.input.population}"):
    evaluate(snakemake.input.population, snakemake.input.heldout, snakemake.params.embedder_name, snakemake.output[0], k=snakemake.params.k)
