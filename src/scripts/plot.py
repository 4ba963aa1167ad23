"""Rule plot: FD vs epsilon and iteration, accuracy vs epsilon, and sample grids."""
from private_evolution import report
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], "plot"):
    labels, iterations = job.params.sample_epsilons, job.params.grid_iterations
    grids = dict(zip([(eps, t) for eps in labels for t in iterations], job.input.grids))
    report.plot_all(
        job.input.metrics,
        dict(zip(labels, job.input.finals)),
        grids,
        job.params.class_names,
        job.params.plot,
        {name: job.output[name] for name in report.PLOT_FILES},
        seed_mode=job.params.seed_mode,
        headline=job.params.headline,
        vote_embedder=job.params.vote_embedder,
    )
