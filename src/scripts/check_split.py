"""Rule check_split: the split's private or evaluation part checked against the data set's ledger
of parts, before the data jobs start (a refusal then costs no finished split)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.check_split import check_split
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "check_split"):
    check_split(job.params.dataset, job.wildcards.part, job.params.ledger, job.wildcards.exp, job.output[0])
