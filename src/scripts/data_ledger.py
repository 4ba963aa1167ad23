"""Rule data_ledger: the public spend of a private data set where there is none (out of date until composed)."""
from private_evolution.ledger import start_spend
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "data_ledger"):
    start_spend(job.params.ledger, job.output[0])
