"""Rule evaluate: metrics of one population against held-out real data (NOT private)."""
from private_evolution.stages.evaluate import evaluate
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"evaluate {snakemake.input.population}"):
    evaluate(snakemake.input.population, snakemake.input.heldout, snakemake.params.embedder_name, snakemake.output[0])
