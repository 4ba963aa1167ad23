"""Rule calibrate: sigma for (epsilon, delta, T, k, bins) from the PLD accountant -> privacy.json."""
from private_evolution.stages.calibrate import calibrate
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "calibrate"):
    calibrate(
        snakemake.params.privacy,
        snakemake.params.epsilon,
        snakemake.params.iterations,
        snakemake.params.k,
        snakemake.params.threshold,
        snakemake.output[0],
        snakemake.params.bins,
    )
