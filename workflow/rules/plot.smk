# Reporting: one tidy CSV of every metric, the privacy ledger, then the figures.
# Figures and tables are registered for `snakemake --report results/report.html`.


rule collect_metrics:
    input:
        lambda w: [entry["path"] for entry in metrics_entries(w.exp)],
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
    group:
        cluster_group(None, iteration="report")
    conda:
        "../../envs/pe.yaml"
    params:
        experiment=lambda w: w.exp,
        entries=lambda w: metrics_entries(w.exp),
        code=code("collect_metrics", reported_implementations),
    script:
        stage_script("collect_metrics")


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
    conda:
        "../../envs/pe.yaml"
    params:
        ledger=lambda w: ledger_private(w.source),
        code=code("data_ledger"),
    script:
        stage_script("data_ledger")


# Reads every run's privacy.json, the data set's draw records (metadata, no data) and its
# spend. It takes every vote's draw record as input (epsilon = inf's too: its records are
# counted, though they cost no budget), so any vote that reran (a new draw) reruns it and
# it composes the spend after the experiment's last vote; and the data set's spend, so a
# draw of another experiment on the same data does.
rule privacy_ledger:
    input:
        privacy=lambda w: expand(
            PRIVACY,
            exp=w.exp,
            eps=exp_cfg(w).epsilon_labels,
        ),
        draws=lambda w: [
            draw_path(w.exp, eps, t)
            for eps in exp_cfg(w).epsilon_labels
            for t in range(1, exp_cfg(w).pe.iterations + 1)
        ],
        spend=lambda w: ledger_spend(data_source_of(w)),
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
    group:
        cluster_group(None, iteration="report")
    conda:
        "../../envs/pe.yaml"
    params:
        experiment=lambda w: w.exp,
        ledger=lambda w: ledger_private(data_source_of(w)),
        code=code("privacy_ledger"),
    script:
        stage_script("privacy_ledger")


rule plot:
    input:
        metrics=METRICS_TABLE,
        finals=lambda w: final_populations(w.exp),
        grids=lambda w: [
            population_path(w.exp, eps, t)
            for eps in exp_cfg(w).epsilon_labels
            for t in grid_iterations(exp_cfg(w))
        ],
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
        "../../envs/pe.yaml"
    params:
        epsilon_labels=lambda w: exp_cfg(w).epsilon_labels,
        grid_iterations=lambda w: grid_iterations(exp_cfg(w)),
        class_names=lambda w: exp_cfg(w).dataset.class_names,
        plot=lambda w: JobOptions(exp_cfg(w).section("plot")),
        seed_mode=lambda w: exp_cfg(w).privacy.seed_mode,
        headline=lambda w: exp_cfg(w).headline_embedder,
        vote_embedder=lambda w: exp_cfg(w).embedder.name,
        code=code("plot", reported_implementations),
    script:
        stage_script("plot")
