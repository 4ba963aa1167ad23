"""Rule collect_metrics: every metrics.json of an experiment -> one tidy CSV."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "collect_metrics"):
    report.collect_metrics(snakemake.params.experiment, snakemake.params.entries, snakemake.output[0])
