"""Rule select: resample ids in proportion to the noisy, thresholded votes."""
from private_evolution.stages.select import select
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], f"select {job.wildcards.run} t={job.wildcards.t}"):
    select(
        job.input.votes, int(job.wildcards.t), job.params.epsilon, job.params.seed, job.output[0],
        size=job.params.size, num_classes=job.params.num_classes,
    )
