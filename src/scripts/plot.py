"""Rule plot: FD vs epsilon and iteration, accuracy vs epsilon, and sample grids."""
from private_evolution import report
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], "plot"):
    labels, iterations = snakemake.params.epsilon_labels, snakemake.params.grid_iterations
    grids = dict(zip([(eps, t) for eps in labels for t in iterations], snakemake.input.grids))
    report.plot_all(
        snakemake.input.metrics,
        dict(zip(labels, snakemake.input.finals)),
        grids,
        snakemake.params.class_names,
        snakemake.params.plot,
        {name: snakemake.output[name] for name in report.PLOT_FILES},
        seed_mode=snakemake.params.seed_mode,
        headline=snakemake.params.headline,
        vote_embedder=snakemake.params.vote_embedder,
    )
