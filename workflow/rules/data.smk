# The private data: loaded, split and embedded once per experiment.
# Everything under results/{exp}/private/ is private; only vote and evaluate read it.
# Logs of jobs that read private data go to results/{exp}/private/logs/ (see logs.py).


rule prepare_private:
    output:
        private=f"{PRIVATE}/private.npz",
    log:
        f"{PRIVATE}/logs/prepare_private.log",
    benchmark:
        "results/{exp}/benchmarks/prepare_private.tsv"
    priority: PRIORITY_PRIVATE
    group:
        cluster_group(None, iteration="data")
    conda:
        "../../envs/pe.yaml"
    params:
        # the private split does not depend on the held-out size: editing it reruns no vote
        dataset=lambda w: JobOptions(
            exp_cfg(w).section("dataset"), ignore=("num_heldout",)
        ),
        code=code("prepare_private"),
    script:
        stage_script("prepare_private")


use rule prepare_private as prepare_heldout with:
    output:
        heldout=f"{PRIVATE}/heldout.npz",
    log:
        f"{PRIVATE}/logs/prepare_heldout.log",
    benchmark:
        "results/{exp}/benchmarks/prepare_heldout.tsv"
    priority: 0
    params:
        dataset=lambda w: JobOptions(exp_cfg(w).section("dataset")),
        code=code("prepare_private"),


use rule prepare_private as prepare_validation with:
    output:
        validation=f"{PRIVATE}/validation.npz",
    log:
        f"{PRIVATE}/logs/prepare_validation.log",
    benchmark:
        "results/{exp}/benchmarks/prepare_validation.tsv"
    priority: PRIORITY_PRIVATE
    params:
        dataset=lambda w: JobOptions(exp_cfg(w).section("dataset")),
        code=code("prepare_private"),


# The evaluation feature space learnt from the validation part (real held-out images, never
# the private set): trained once per experiment, used only by evaluation.
rule train_feature_classifier:
    input:
        f"{PRIVATE}/validation.npz",
    output:
        FEATURE_CLASSIFIER,
    log:
        f"{PRIVATE}/logs/train_feature_classifier.log",
    benchmark:
        "results/{exp}/benchmarks/train_feature_classifier.tsv"
    priority: PRIORITY_PRIVATE
    group:
        cluster_group(None, iteration="data")
    conda:
        "../../envs/pe.yaml"
    params:
        num_classes=lambda w: len(exp_cfg(w).dataset.class_names),
        classifier=lambda w: JobOptions(exp_cfg(w).evaluation.classifier),
        code=code("train_feature_classifier"),
    script:
        stage_script("train_feature_classifier")


rule embed_real_shard:
    input:
        f"{PRIVATE}/{{split}}.npz",
        unpack(embedder_inputs),
    output:
        PRIVATE_EMBED_SHARD,
    log:
        f"{PRIVATE}/logs/embed_real/{{split}}_{{embedder}}_shard_{{shard}}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_real/{split}_{embedder}_shard_{shard}.tsv"
    priority: PRIORITY_PRIVATE
    conda:
        "../../envs/pe.yaml"
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "embed"),
    params:
        embedder=embedder_params,
        shard=shard_of,
        code=code("embed"),
    script:
        stage_script("embed")


use rule embed_real_shard as embed_real with:
    input:
        unpack(sharded({"images": f"{PRIVATE}/{{split}}.npz"}, PRIVATE_EMBED_SHARD)),
        unpack(embedder_inputs),
    output:
        f"{PRIVATE}/{{split}}_embed_{{embedder}}.npz",
    log:
        f"{PRIVATE}/logs/embed_real/{{split}}_{{embedder}}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_real/{split}_{embedder}.tsv"
    group:
        cluster_group("embed", iteration="data")
    resources:
        gpu=lambda w: gathering_gpus(w, "embed"),
    params:
        shard=None,
