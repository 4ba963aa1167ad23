# Evaluation against the held-out real set. It reads real data, so its numbers
# are NOT differentially private: they are for reporting only.


# A population in a feature space the validation CNN defines (the classifier embedder): for
# evaluation only (the network was trained on held-out real images), one job per
# population, never read by a vote.
ruleorder: embed_evaluation > embed


rule embed_evaluation:
    input:
        images="results/{exp}/{run}/iter_{any_t}/population.npz",
        weights=FEATURE_CLASSIFIER,
    output:
        "results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
    log:
        "results/{exp}/logs/embed_evaluation/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_evaluation/{run}_iter_{any_t}_{embedder}.tsv"
    wildcard_constraints:
        embedder=validation_classifier_spaces(),
    group:
        cluster_group("evaluate")
    conda:
        "../../envs/pe.yaml"
    params:
        embedder=embedder_params,
        shard=None,
        code=code("embed"),
    script:
        stage_script("embed")


rule evaluate:
    input:
        population="results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
        heldout=f"{PRIVATE}/heldout_embed_{{embedder}}.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/metrics_{embedder}.json",
    log:
        "results/{exp}/logs/evaluate/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate/{run}_iter_{any_t}_{embedder}.tsv"
    group:
        cluster_group("evaluate")
    conda:
        "../../envs/pe.yaml"
    params:
        embedder_name=lambda w: w.embedder,
        metrics=lambda w: exp_cfg(w).evaluation.metrics,
        k=lambda w: exp_cfg(w).evaluation.k_nearest,
        code=code("evaluate"),
    script:
        stage_script("evaluate")


rule evaluate_accuracy:
    input:
        train=lambda w: population_path(w.exp, w.eps, exp_cfg(w).pe.iterations),
        heldout=f"{PRIVATE}/heldout.npz",
    output:
        "results/{exp}/eps_{eps}/accuracy.json",
    log:
        "results/{exp}/logs/evaluate_accuracy/eps_{eps}.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate_accuracy/eps_{eps}.tsv"
    group:
        cluster_group("evaluate", iteration="last")
    conda:
        "../../envs/pe.yaml"
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        epochs=lambda w: accuracy_params(w)["epochs"],
        seed=lambda w: accuracy_params(w)["seed"],
        code=code("evaluate_accuracy"),
    script:
        stage_script("evaluate_accuracy")


# The ceiling: the same classifier trained on the real private set. Not DP.
rule evaluate_accuracy_ceiling:
    input:
        train=f"{PRIVATE}/private.npz",
        heldout=f"{PRIVATE}/heldout.npz",
    output:
        "results/{exp}/accuracy_ceiling.json",
    log:
        f"{PRIVATE}/logs/evaluate_accuracy/ceiling.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate_accuracy/ceiling.tsv"
    group:
        cluster_group(None, iteration="report")
    conda:
        "../../envs/pe.yaml"
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        epochs=lambda w: accuracy_params(w)["epochs"],
        seed=lambda w: accuracy_params(w)["seed"],
        code=code("evaluate_accuracy"),
    script:
        stage_script("evaluate_accuracy")
