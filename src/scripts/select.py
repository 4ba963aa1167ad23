"""Rule select: resample ids in proportion to the noisy, thresholded votes."""
from private_evolution.stages.select import select
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"select eps_{snakemake.wildcards.eps} t={snakemake.wildcards.t}"):
    select(
        snakemake.input.votes, int(snakemake.wildcards.t), float(snakemake.wildcards.eps), snakemake.params.seed, snakemake.output[0]
    )
