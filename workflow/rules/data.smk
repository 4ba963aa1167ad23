# The private data: loaded, split and embedded once per experiment.
# Everything under results/{exp}/private/ is private; only vote and evaluate read it.
# Logs of jobs that read private data go to results/{exp}/private/logs/ (see logs.py).


rule prepare_private:
    output:
        private=f"{PRIVATE}/private.npz",
    params:
        # the private split does not depend on the held-out size: editing it reruns no vote
        dataset=lambda w: JobOptions(exp_cfg(w).section("dataset"), ignore=("num_heldout",)),
        code=code("prepare_private"),
    priority: PRIORITY_PRIVATE
    log:
        PRIVATE + "/logs/prepare_private.log",
    benchmark:
        "results/{exp}/benchmarks/prepare_private.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("prepare_private")


use rule prepare_private as prepare_heldout with:
    output:
        heldout=f"{PRIVATE}/heldout.npz",
    params:
        dataset=lambda w: JobOptions(exp_cfg(w).section("dataset")),
        code=code("prepare_private"),
    priority: 0
    log:
        PRIVATE + "/logs/prepare_heldout.log",
    benchmark:
        "results/{exp}/benchmarks/prepare_heldout.tsv"


rule embed_real_shard:
    input:
        f"{PRIVATE}/{{split}}.npz",
    output:
        f"{PRIVATE}/shards/{{split}}_embed_{{embedder}}_{{shard}}.npz",
    params:
        embedder=embedder_params,
        shard=shard_of,
        code=code("embed"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "embed"),
    priority: PRIORITY_PRIVATE
    log:
        PRIVATE + "/logs/embed_real/{split}_{embedder}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_real/{split}_{embedder}_shard_{shard}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("embed")


rule embed_real:
    input:
        unpack(sharded({"images": f"{PRIVATE}/{{split}}.npz"}, f"{PRIVATE}/shards/{{split}}_embed_{{embedder}}_{{shard}}.npz")),
    output:
        f"{PRIVATE}/{{split}}_embed_{{embedder}}.npz",
    params:
        embedder=embedder_params,
        shard=None,
        code=code("embed"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gathering_gpus(w, "embed"),
    priority: PRIORITY_PRIVATE
    log:
        PRIVATE + "/logs/embed_real/{split}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/embed_real/{split}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("embed")
