"""Rule privacy_ledger: every run's privacy.json and the data set's ledger -> the experiment's ledger tables and spend."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "privacy_ledger"):
    report.privacy_ledger(
        list(snakemake.input.privacy),
        snakemake.params.experiment,
        snakemake.params.ledger,
        snakemake.output.ledger,
        snakemake.output.draws,
        snakemake.output.spend,
        list(snakemake.input.draws),
    )
