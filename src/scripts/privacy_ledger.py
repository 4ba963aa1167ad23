"""Rule privacy_ledger: every privacy.json of an experiment -> one table (for the report)."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "privacy_ledger"):
    report.privacy_ledger(list(snakemake.input), snakemake.output[0])
