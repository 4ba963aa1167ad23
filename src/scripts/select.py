"""Rule select: resample ids in proportion to the noisy, thresholded votes."""
from private_evolution.stages.select import select
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"select {snakemake.wildcards.run} t={snakemake.wildcards.t}"):
    select(snakemake.input.votes, int(snakemake.wildcards.t), snakemake.params.epsilon, snakemake.params.seed, snakemake.output[0])
