"""Rule calibrate: sigma for (epsilon, delta, T, k) from the PLD accountant -> privacy.json."""
from private_evolution import stages
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "calibrate"):
    stages.calibrate(
        snakemake.params.privacy,
        snakemake.params.epsilon,
        snakemake.params.iterations,
        snakemake.params.k,
        snakemake.params.threshold,
        snakemake.output[0],
    )
