"""Rule collect_metrics: every metrics.json of an experiment -> one tidy CSV."""
from private_evolution import report
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "collect_metrics"):
    report.collect_metrics(job.params.experiment, job.params.entries, job.output[0])
