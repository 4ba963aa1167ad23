"""Rule evaluate: metrics of one population against held-out real data (NOT private)."""
from private_evolution import stages
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"evaluate {snakemake.input.population}"):
    stages.evaluate(snakemake.input.population, snakemake.input.heldout, snakemake.params.embedder_name, snakemake.output[0])
