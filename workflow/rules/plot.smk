# Reporting: one tidy CSV of every metric, the privacy ledger, then the figures.
# Figures and tables are registered for `snakemake --report results/report.html`.
# The table and the ledger read small files and take seconds: on a cluster they run in the
# submitting process rather than wait in the queue (the ledger reads the draw records, metadata
# under private/, there). The plot stays a cluster job: it loads whole populations (about 1 GB
# at the CIFAR-10 setup), as does release.smk's release.


localrules:
    collect_metrics,
    privacy_ledger,


rule collect_metrics:
    input:
        metrics_files,
    output:
        report(
            METRICS_TABLE,
            caption="../report/metrics.rst",
            category="{exp}",
            subcategory="Tables",
        ),
    log:
        job_log("collect_metrics"),
    benchmark:
        job_benchmark("collect_metrics")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        experiment="{exp}",
        entries=wildcard("exp", metrics_entries),
        code=code("collect_metrics", reported_implementations),
    shell:
        stage_command("collect_metrics", "experiment", "entries")


# The data set's public spend (results/_ledger/<source>/privacy_spend.json), made here when
# it does not exist yet. A vote that draws marks it out of date (so it never understates the
# spend, even after a failed or killed run); each experiment's ledger (below, which takes it
# as input, after the experiment's votes) composes it when it finds it so, and reruns when
# another experiment drew. It takes a moment and belongs to no experiment's job group: on a
# cluster it runs in the submitting process.
localrules:
    data_ledger,


rule data_ledger:
    output:
        LEDGER_SPEND,
    log:
        LEDGER_LOG,
    benchmark:
        LEDGER_BENCHMARK
    wildcard_constraints:
        source=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    # ready at once (no input): run it early, or the experiments' ledgers wait for it until
    # every evaluation job has run, and then hold up the plots
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        ledger=wildcard("source", ledger_private),
        code=code("data_ledger"),
    shell:
        stage_command("data_ledger", "ledger")


# Reads every run's privacy.json, the data set's draw records (metadata, no data) and its
# spend. It takes every vote's draw record as input (epsilon = inf's too: its records are
# counted, though they cost no budget), so any vote that reran (a new draw) reruns it and
# it composes the spend after the experiment's last vote; and the data set's spend, so a
# draw of another experiment on the same data does.
rule privacy_ledger:
    input:
        privacy=run_privacy_files,
        draws=experiment_draws,
        spend=data_set_spend,
    output:
        ledger=report(
            PRIVACY_LEDGER,
            caption="../report/privacy_ledger.rst",
            category="{exp}",
            subcategory="Privacy",
        ),
        draws=report(
            PRIVACY_DRAWS,
            caption="../report/privacy_draws.rst",
            category="{exp}",
            subcategory="Privacy",
        ),
        spend=report(
            PRIVACY_SPEND,
            caption="../report/privacy_spend.rst",
            category="{exp}",
            subcategory="Privacy",
        ),
    log:
        job_log("privacy_ledger"),
    benchmark:
        job_benchmark("privacy_ledger")
    # ready after the last vote: beside the evaluation jobs, not after them with one core idle
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        experiment="{exp}",
        ledger=data_set_ledger,
        code=code("privacy_ledger"),
    shell:
        stage_command("privacy_ledger", "experiment", "ledger")


rule plot:
    input:
        metrics=METRICS_TABLE,
        finals=wildcard("exp", final_populations),
        grids=grid_populations,
    output:
        # one file per name of report.PLOT_FILES, each with workflow/report/<name>.rst as caption
        **{
            name: report(
                f"{PLOTS}/{file}",
                caption=f"../report/{name}.rst",
                category="{exp}",
                subcategory="Samples" if name.startswith("samples") else "Metrics",
            )
            for name, file in PLOT_FILES.items()
        },
    log:
        job_log("plot"),
    benchmark:
        job_benchmark("plot")
    group:
        cluster_group(None, iteration="report")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        sample_epsilons=setting("epsilon_labels", sample_epsilons),
        grid_iterations=setting("pe.iterations", grid_iteration_numbers),
        class_names=setting("dataset.class_names"),
        plot=section_options("plot"),
        seed_mode=setting("privacy.seed_mode"),
        headline=setting("headline_embedder"),
        vote_embedder=setting("embedder.name"),
        code=code("plot", reported_implementations),
    shell:
        stage_command(
            "plot",
            "sample_epsilons",
            "grid_iterations",
            "class_names",
            "plot",
            "seed_mode",
            "headline",
            "vote_embedder",
        )
