"""Rule prepare_private: load the private data set and split off the held-out set."""
from private_evolution.warm import hand_over

hand_over(snakemake.log)  # in the warm worker's child when one serves this run (see warm.py)

from private_evolution.stages.prepare_private import prepare_private
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "prepare_private"):
    prepare_private(snakemake.params.dataset, snakemake.output.private, snakemake.output.heldout)
