"""Rule check_source: the data set's metadata checks (file present, npz headers), before any job loads it."""
from private_evolution.logs import stage_logging
from private_evolution.stages.check_source import check_source
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "check_source"):
    check_source(job.params.dataset, job.output[0])
