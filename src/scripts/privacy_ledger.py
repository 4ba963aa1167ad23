"""Rule privacy_ledger: every run's privacy.json and every recorded draw -> the ledger tables and the total spend."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "privacy_ledger"):
    report.privacy_ledger(
        list(snakemake.input.privacy),
        snakemake.params.private_dir,
        snakemake.output.ledger,
        snakemake.output.draws,
        snakemake.output.spend,
    )
