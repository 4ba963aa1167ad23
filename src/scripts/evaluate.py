"""Rule evaluate: the metrics (evaluation.metrics) of one population vs held-out real data (NOT private).
Its input is the population's embedding, or in a space the validation CNN defines the population's
images, embedded here (see evaluation_input in common.smk)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate, evaluate_images
from private_evolution.job import stage_job

job = stage_job()

measures = {"metrics": job.params.metrics, "options": {"k_nearest": job.params.k}}
heldout, output = job.input.heldout, job.output[0]
with stage_logging(job.log[0], f"evaluate {job.input[0]}"):
    if "images" in job.input.keys():
        evaluate_images(job.input.images, heldout, job.params.embedder, output, threads=job.threads, **measures)
    else:
        evaluate(job.input.population, heldout, job.params.embedder_name, output, **measures)
