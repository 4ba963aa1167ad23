"""Rule calibrate: sigma for (epsilon, delta, T, k, bins) from the PLD accountant -> privacy.json."""
from private_evolution.stages.calibrate import calibrate
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "calibrate"):
    calibrate(
        job.params.privacy,
        job.params.epsilon,
        job.params.iterations,
        job.params.k,
        job.params.threshold,
        job.output[0],
        job.params.bins,
    )
