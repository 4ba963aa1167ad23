# Evaluation against the held-out real set. It reads real data, so its numbers
# are NOT differentially private: they are for reporting only.


rule evaluate:
    input:
        population="results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
        heldout=f"{PRIVATE}/heldout_embed_{{embedder}}.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/metrics_{embedder}.json",
    params:
        embedder_name=lambda w: w.embedder,
        code=code("evaluate"),
    log:
        "results/{exp}/logs/evaluate/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/evaluate/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("evaluate")
