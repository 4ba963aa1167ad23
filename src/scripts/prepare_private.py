"""Rules prepare_private, prepare_heldout and prepare_validation: load the data set and write the
private split, the held-out test split or the validation split (evaluation only), each in its own job."""
from private_evolution.stages.prepare_private import prepare_private
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], next(f"prepare_{split}" for split in ("private", "heldout", "validation") if split in job.output.keys())):
    prepare_private(
        job.params.dataset,
        job.output.get("private"),
        job.output.get("heldout"),
        job.output.get("validation"),
        job.output.get("preparation"),
        getattr(job.params, "ledger", None),
        job.wildcards.exp,
    )
