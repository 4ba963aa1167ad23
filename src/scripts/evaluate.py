"""Rule evaluate: the metrics (evaluation.metrics) of one population vs held-out real data (NOT private).
Its input is the population's embedding, or in a space the validation CNN defines the population's
images, embedded here (see evaluation_input in common.smk)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate, evaluate_images

measures = {"metrics": snakemake.params.metrics, "options": {"k_nearest": snakemake.params.k}}
heldout, output = snakemake.input.heldout, snakemake.output[0]
with stage_logging(snakemake.log[0], f"evaluate {snakemake.input[0]}"):
    if "images" in snakemake.input.keys():
        evaluate_images(snakemake.input.images, heldout, snakemake.params.embedder, output, threads=snakemake.threads, **measures)
    else:
        evaluate(snakemake.input.population, heldout, snakemake.params.embedder_name, output, **measures)
