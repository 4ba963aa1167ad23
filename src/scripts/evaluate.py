"""Rule evaluate: the metrics (evaluation.metrics) of one population vs held-out real data (NOT private)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate

with stage_logging(snakemake.log[0], f"evaluate {snakemake.input.population}"):
    evaluate(
        snakemake.input.population,
        snakemake.input.heldout,
        snakemake.params.embedder_name,
        snakemake.output[0],
        metrics=snakemake.params.metrics,
        options={"k_nearest": snakemake.params.k},
    )
