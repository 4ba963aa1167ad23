"""Rule random_population: RANDOM_API (touches no private data; shared by every epsilon)."""
from private_evolution.stages.random_population import random_population
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "random_population"):
    random_population(
        snakemake.params.api, snakemake.params.dataset, snakemake.params.num_samples, snakemake.params.seed, snakemake.output[0]
    )
