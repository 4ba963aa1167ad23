"""Rule check_source: the data set's metadata checks (file present, npz headers), before any job loads it."""
from private_evolution.logs import stage_logging
from private_evolution.stages.check_source import check_source

with stage_logging(snakemake.log[0], "check_source"):
    check_source(snakemake.params.dataset, snakemake.output[0])
