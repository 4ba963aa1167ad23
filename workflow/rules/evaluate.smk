# Evaluation against the held-out real set. It reads real data, so its numbers
# are NOT differentially private: they are for reporting only. Those of the epsilon = inf
# reference and the accuracy ceiling are made from private data without noise: their files
# lie under private/ (only the metrics table and the report show them, labelled).


# A population in a feature space the validation CNN defines (the classifier embedder): for
# evaluation only (the network was trained on held-out real images), one job per
# population, never read by a vote.
ruleorder: embed_evaluation > embed


rule embed_evaluation:
    input:
        images=f"{ANY_ITER}/{POPULATION}",
        weights=FEATURE_CLASSIFIER,
    output:
        intermediate(f"{ANY_ITER}/{EMBEDDING}"),
    log:
        job_log("embed_evaluation/{run}_iter_{any_t}_{embedder}"),
    benchmark:
        job_benchmark("embed_evaluation/{run}_iter_{any_t}_{embedder}")
    wildcard_constraints:
        embedder=validation_classifier_spaces(),
    group:
        cluster_group("evaluate")
    conda:
        "../../envs/pe.yaml"
    params:
        embedder=embedder_params,
        shard=None,
        code=code("embed", wildcard_embedder),
    script:
        stage_script("embed")


rule evaluate:
    input:
        population=f"{ANY_ITER}/{EMBEDDING}",
        heldout=fill(REAL_EMBEDDING, split="heldout"),
    output:
        f"{ANY_ITER}/{METRICS}",
    log:
        job_log("evaluate/{run}_iter_{any_t}_{embedder}"),
    benchmark:
        job_benchmark("evaluate/{run}_iter_{any_t}_{embedder}")
    group:
        cluster_group("evaluate")
    conda:
        "../../envs/pe.yaml"
    params:
        embedder_name=lambda w: w.embedder,
        metrics=lambda w: exp_cfg(w).evaluation.metrics,
        k=lambda w: exp_cfg(w).evaluation.k_nearest,
        code=code("evaluate", evaluation_implementations),
    script:
        stage_script("evaluate")


# The final population of each finite epsilon, and (run = shared) the random population of
# iteration 0: the zero-privacy baseline, made without private data.
rule evaluate_accuracy:
    input:
        train=accuracy_training_set,
        heldout=fill(REAL_SET, split="heldout"),
    output:
        ACCURACY,
    log:
        job_log("evaluate_accuracy/{run}"),
    benchmark:
        job_benchmark("evaluate_accuracy/{run}")
    group:
        accuracy_group
    conda:
        "../../envs/pe.yaml"
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        epochs=lambda w: accuracy_params(w)["epochs"],
        seed=lambda w: accuracy_params(w)["seed"],
        code=code("evaluate_accuracy"),
    script:
        stage_script("evaluate_accuracy")


# The ceiling: the same classifier trained on the real private set. Not DP, and private
# (contract.ACCURACY_CEILING lies under private/): only the metrics table and report show it, labelled.
rule evaluate_accuracy_ceiling:
    input:
        train=fill(REAL_SET, split="private"),
        heldout=fill(REAL_SET, split="heldout"),
    output:
        ACCURACY_CEILING,
    log:
        job_log("evaluate_accuracy/ceiling", private=True),
    benchmark:
        job_benchmark("evaluate_accuracy/ceiling", private=True)
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
