"""Rule data_ledger: the public spend of a private data set, from its ledger's draw records."""
from private_evolution.ledger import refresh_spend
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "data_ledger"):
    refresh_spend(snakemake.params.ledger, snakemake.output[0])
