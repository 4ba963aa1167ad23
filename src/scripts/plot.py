"""Rule plot: FD vs epsilon, FD vs iteration, and a grid of final samples per epsilon."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "plot"):
    report.plot_all(
        snakemake.input.metrics,
        dict(zip(snakemake.params.epsilon_labels, snakemake.input.finals)),
        snakemake.params.class_names,
        snakemake.params.plot,
        snakemake.output,
    )
