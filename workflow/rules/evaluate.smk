# Evaluation against the held-out real set. It reads real data, so its numbers
# are NOT differentially private: they are for reporting only.


# A population in the classifier feature space: for evaluation only (the network was
# trained on held-out real images), one job per population, never read by a vote.
ruleorder: embed_evaluation > embed


rule embed_evaluation:
    input:
        images="results/{exp}/{run}/iter_{any_t}/population.npz",
        weights=FEATURE_CLASSIFIER,
    output:
        "results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
    wildcard_constraints:
        embedder="classifier",
    params:
        embedder=embedder_params,
        shard=None,
        code=code("embed"),
    group: cluster_group("evaluate")
    log:
        "results/{exp}/logs/embed_evaluation/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_evaluation/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("embed")


rule evaluate:
    input:
        population="results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
        heldout=f"{PRIVATE}/heldout_embed_{{embedder}}.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/metrics_{embedder}.json",
    params:
        embedder_name=lambda w: w.embedder,
        k=lambda w: exp_cfg(w).evaluation.k_nearest,
        code=code("evaluate"),
    group: cluster_group("evaluate")
    log:
        "results/{exp}/logs/evaluate/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("evaluate")


def accuracy_params(wildcards):
    return exp_cfg(wildcards).evaluation.accuracy


rule evaluate_accuracy:
    input:
        train=lambda w: population_path(w.exp, w.eps, exp_cfg(w).pe.iterations),
        heldout=f"{PRIVATE}/heldout.npz",
    output:
        "results/{exp}/eps_{eps}/accuracy.json",
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        epochs=lambda w: accuracy_params(w)["epochs"],
        seed=lambda w: accuracy_params(w)["seed"],
        code=code("evaluate_accuracy"),
    group: cluster_group("evaluate", iteration="last")
    log:
        "results/{exp}/logs/evaluate_accuracy/eps_{eps}.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate_accuracy/eps_{eps}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("evaluate_accuracy")


# The ceiling: the same classifier trained on the real private set. Not DP.
rule evaluate_accuracy_ceiling:
    input:
        train=f"{PRIVATE}/private.npz",
        heldout=f"{PRIVATE}/heldout.npz",
    output:
        "results/{exp}/accuracy_ceiling.json",
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        epochs=lambda w: accuracy_params(w)["epochs"],
        seed=lambda w: accuracy_params(w)["seed"],
        code=code("evaluate_accuracy"),
    group: cluster_group(None, iteration="report")
    log:
        PRIVATE + "/logs/evaluate_accuracy/ceiling.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate_accuracy/ceiling.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("evaluate_accuracy")
