"""Rule privacy_ledger: every run's privacy.json and the data set's ledger -> the experiment's ledger tables and spend."""
from private_evolution import report
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "privacy_ledger"):
    report.privacy_ledger(
        list(job.input.privacy),
        job.params.experiment,
        job.params.ledger,
        job.output.ledger,
        job.output.draws,
        job.output.spend,
        list(job.input.draws),
    )
