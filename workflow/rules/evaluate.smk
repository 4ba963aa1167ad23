# Evaluation against the held-out real set. It reads real data, so its numbers
# are NOT differentially private: they are for reporting only. Those of the epsilon = inf
# reference and the accuracy ceiling are made from private data without noise: their files
# lie under private/ (only the metrics table and the report show them, labelled).


# One job per population and feature space. It reads the population's embedding (made by
# embed; the vote's own in its space), or in a space the validation CNN defines the population
# and the CNN, and embeds the population itself, in memory (evaluation_input).
rule evaluate:
    input:
        unpack(evaluation_input),
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
        JOB_ENV
    params:
        job_files=job_files,
        embedder_name="{embedder}",
        embedder=evaluation_embedder,
        metrics=setting("evaluation.metrics"),
        k=setting("evaluation.k_nearest"),
        code=code("evaluate", evaluation_implementations),
    shell:
        stage_command("evaluate", "embedder_name", "embedder", "metrics", "k")


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
        JOB_ENV
    params:
        job_files=job_files,
        num_classes=setting("dataset.class_names", len),
        epochs=setting("evaluation.accuracy.epochs"),
        seed=setting("evaluation.accuracy.seed"),
        code=code("evaluate_accuracy"),
    shell:
        stage_command("evaluate_accuracy", "num_classes", "epochs", "seed")


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
        JOB_ENV
    params:
        job_files=job_files,
        num_classes=setting("dataset.class_names", len),
        epochs=setting("evaluation.accuracy.epochs"),
        seed=setting("evaluation.accuracy.seed"),
        code=code("evaluate_accuracy"),
    shell:
        stage_command("evaluate_accuracy", "num_classes", "epochs", "seed")
