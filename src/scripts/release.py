"""Rule release: copy only the DP outputs into results/{exp}/release/ with a sha256 manifest."""
from private_evolution.logs import stage_logging
from private_evolution.stages.release import release

with stage_logging(snakemake.log[0], "release"):
    release(snakemake.params.runs, snakemake.output[0], snakemake.params.private_dir, snakemake.params.composed)
