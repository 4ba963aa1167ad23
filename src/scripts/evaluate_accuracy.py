"""Rules evaluate_accuracy and evaluate_accuracy_ceiling: a CNN trained on synthetic (or private) data,
tested on held-out real data (NOT private)."""
from private_evolution.logs import stage_logging
from private_evolution.stages.evaluate import evaluate_accuracy

with stage_logging(snakemake.log[0], f"accuracy {snakemake.input.train}"):
    evaluate_accuracy(
        snakemake.input.train,
        snakemake.input.heldout,
        snakemake.params.num_classes,
        snakemake.params.epochs,
        snakemake.params.seed,
        snakemake.output[0],
    )
