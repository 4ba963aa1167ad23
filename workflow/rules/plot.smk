# Reporting: one tidy CSV of every metric, then the figures.


rule collect_metrics:
    input:
        lambda w: [entry["path"] for entry in metrics_entries(w.exp)],
    output:
        "results/{exp}/metrics.csv",
    params:
        experiment=lambda w: w.exp,
        entries=lambda w: metrics_entries(w.exp),
        code=code("collect_metrics"),
    log:
        "results/{exp}/logs/collect_metrics.log",
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("collect_metrics")


rule plot:
    input:
        metrics="results/{exp}/metrics.csv",
        finals=lambda w: final_populations(w.exp),
    output:
        fd_vs_epsilon="results/{exp}/plots/fid_vs_epsilon.png",
        fd_vs_iteration="results/{exp}/plots/fid_vs_iteration.png",
        samples="results/{exp}/plots/samples.png",
    params:
        epsilon_labels=lambda w: exp_cfg(w).epsilon_labels,
        class_names=lambda w: exp_cfg(w).dataset.class_names,
        plot=lambda w: exp_cfg(w).section("plot"),
        code=code("plot"),
    log:
        "results/{exp}/logs/plot.log",
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("plot")
