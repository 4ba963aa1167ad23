"""Rule release: copy only the DP outputs into results/{exp}/release/ (and a numbered copy under
results/{exp}/releases/) with a sha256 manifest and the composed cost from the data set's ledger."""
from private_evolution.logs import stage_logging
from private_evolution.stages.release import release
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "release"):
    release(
        job.params.runs,
        job.output[0],
        job.wildcards.exp,
        job.params.ledger,
        job.params.versions,
        job.params.class_names,
        job.params.generator,
    )
