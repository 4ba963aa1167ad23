"""Rule data_ledger: the public spend of a private data set where there is none (out of date until composed)."""
from private_evolution.ledger import start_spend
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "data_ledger"):
    start_spend(snakemake.params.ledger, snakemake.output[0])
