"""Rules evaluate_accuracy and evaluate_accuracy_ceiling: a CNN trained on synthetic (or private) data,
tested on held-out real data (NOT private)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate_accuracy
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], f"accuracy {job.input.train}"):
    evaluate_accuracy(
        job.input.train,
        job.input.heldout,
        job.params.num_classes,
        job.params.epochs,
        job.params.seed,
        job.output[0],
    )
