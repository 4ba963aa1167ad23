# The PE loop. Iteration 0 (RANDOM_API) touches no private data and is shared by
# every epsilon; iteration t >= 1 of epsilon e is embed(t-1) -> vote -> select -> vary.
# With compute.shards > 1, random_population, embed, vote and vary each run as
# <stage>_shard jobs, gathered by the rule of the stage's own name (see sharded()).


rule calibrate:
    output:
        "results/{exp}/eps_{eps}/privacy.json",
    params:
        epsilon=lambda w: float(w.eps),
        privacy=lambda w: JobOptions(
            {
                "delta": exp_cfg(w).privacy.delta,
                "adjacency": exp_cfg(w).privacy.adjacency,
                "seed_mode": exp_cfg(w).privacy.seed_mode,
                # the public seed matters only in public mode: a secret-seed run never reruns for it
                "seed": exp_cfg(w).privacy.seed if exp_cfg(w).privacy.seed_mode == "public" else None,
            }
        ),
        iterations=lambda w: exp_cfg(w).pe.iterations,
        k=lambda w: exp_cfg(w).pe.k,
        threshold=lambda w: JobOptions(exp_cfg(w).pe.threshold),
        code=code("calibrate"),
    priority: PRIORITY_LOOP
    group: cluster_group("calibrate")
    log:
        "results/{exp}/logs/calibrate/eps_{eps}.log",
    benchmark:
        "results/{exp}/benchmarks/calibrate/eps_{eps}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("calibrate")


rule random_population_shard:
    output:
        f"{ITER_ZERO}/shards/population_{{shard}}.npz",
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        num_samples=lambda w: exp_cfg(w).pe.num_samples,
        seed=lambda w: exp_cfg(w).pe.seed,
        shard=shard_of,
        code=code("random_population"),
    resources:
        gpu=lambda w: gpus(w, "random_population"),
    priority: PRIORITY_LOOP
    log:
        "results/{exp}/logs/random_population/shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/random_population/shard_{shard}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("random_population")


rule random_population:
    input:
        unpack(sharded(lambda w: {}, f"{ITER_ZERO}/shards/population_{{shard}}.npz")),
    output:
        f"{ITER_ZERO}/population.npz",
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        num_samples=lambda w: exp_cfg(w).pe.num_samples,
        seed=lambda w: exp_cfg(w).pe.seed,
        shard=None,
        code=code("random_population"),
    resources:
        gpu=lambda w: gathering_gpus(w, "random_population"),
    priority: PRIORITY_LOOP
    group: cluster_group("generate", iteration="zero")
    log:
        "results/{exp}/logs/random_population.log",
    benchmark:
        "results/{exp}/benchmarks/random_population.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("random_population")


rule embed_shard:
    input:
        "results/{exp}/{run}/iter_{any_t}/population.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/shards/embed_{embedder}_{shard}.npz",
    params:
        embedder=embedder_params,
        shard=shard_of,
        code=code("embed"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "embed"),
    priority: PRIORITY_LOOP
    log:
        "results/{exp}/logs/embed/{run}_iter_{any_t}_{embedder}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/embed/{run}_iter_{any_t}_{embedder}_shard_{shard}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("embed")


rule embed:
    input:
        unpack(
            sharded(
                {"images": "results/{exp}/{run}/iter_{any_t}/population.npz"},
                "results/{exp}/{run}/iter_{any_t}/shards/embed_{embedder}_{shard}.npz",
            )
        ),
    output:
        "results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
    params:
        embedder=embedder_params,
        shard=None,
        code=code("embed"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gathering_gpus(w, "embed"),
    priority: PRIORITY_LOOP
    group: cluster_group("embed")
    log:
        "results/{exp}/logs/embed/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/embed/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("embed")


rule lookahead:
    input:
        "results/{exp}/{run}/iter_{any_t}/population.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/lookahead_{embedder}.npz",
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        embedder=embedder_params,
        # the candidates of iteration t are varied with the degree of iteration t + 1
        degree=lambda w: exp_cfg(w).degrees[int(w.any_t)],
        lookahead=lambda w: exp_cfg(w).pe.lookahead,
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("lookahead"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "lookahead"),
    priority: PRIORITY_LOOP
    group: cluster_group("lookahead")
    log:
        "results/{exp}/logs/lookahead/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/lookahead/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("lookahead")


def vote_inputs(wildcards):
    """The candidates and the privacy settings; the private embeddings come from private_input."""
    return {
        "population": vote_features_path(wildcards.exp, wildcards.eps, int(wildcards.t) - 1),
        "privacy": "results/{exp}/eps_{eps}/privacy.json".format(**wildcards),
    }


def private_input(wildcards):
    """A vote shard reads only its shard of the private embeddings (the file embed_real_shard wrote,
    so its I/O is 1/S of the private set); an unsharded vote reads the whole file, and a gathering
    vote reads none (its shards' clean counts hold all it needs)."""
    name = embed_name(wildcards)
    if "shard" in wildcards.keys():
        return {"private": PRIVATE_EMBED_SHARD.format(exp=wildcards.exp, split="private", embedder=name, shard=wildcards.shard)}
    if shard_count(wildcards) > 1:
        return {}
    return {"private": f"{PRIVATE}/private_embed_{name}.npz".format(exp=wildcards.exp)}


# Clean per-shard counts are private: they stay under results/{exp}/private/.
VOTE_COUNTS = PRIVATE_ITER + "/vote_counts_{shard}.npz"


rule vote_shard:
    input:
        unpack(vote_inputs),
        unpack(private_input),
    output:
        VOTE_COUNTS,
    params:
        settings=lambda w: JobOptions({"nn_backend": exp_cfg(w).pe.nn_backend}),  # a run setting: no rerun
        shard=shard_of,
        code=code("vote"),
    priority: PRIORITY_LOOP
    log:
        PRIVATE + "/logs/vote/eps_{eps}_iter_{t}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/vote/eps_{eps}_iter_{t}_shard_{shard}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vote")


# The DP vote of a finite epsilon: its noisy histogram is public. The record of the
# draw (draw.json, which holds the digest of the clean counts) stays under private/.
rule vote:
    input:
        unpack(vote_inputs),
        unpack(private_input),
        unpack(sharded(lambda w: {}, VOTE_COUNTS)),
    output:
        votes=f"{ITER}/votes.npz",
        draw=DRAW,
    wildcard_constraints:
        eps=FINITE_EPS,
    params:
        settings=lambda w: JobOptions({"nn_backend": exp_cfg(w).pe.nn_backend}),  # a run setting: no rerun
        private_dir=lambda w: PRIVATE.format(exp=w.exp),
        shard=None,
        code=code("vote"),
    priority: PRIORITY_LOOP
    group: cluster_group("vote")
    log:
        PRIVATE + "/logs/vote/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/vote/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vote")


# epsilon = inf: no noise, so the counts are private and stay under private/; the chain
# made from them (select, vary, embed, evaluate) is a non-private reference, never released.
use rule vote as vote_reference with:
    output:
        votes=PRIVATE_ITER + "/votes.npz",
        draw=DRAW,
    wildcard_constraints:
        eps="inf",


rule select:
    input:
        votes=lambda w: votes_path(w.exp, w.eps, w.t),
    output:
        f"{ITER}/selected.npz",
    params:
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("select"),
    priority: PRIORITY_LOOP
    group: cluster_group("vote")
    log:
        "results/{exp}/logs/select/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/select/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("select")


def vary_inputs(wildcards):
    return {
        "population": population_path(wildcards.exp, wildcards.eps, int(wildcards.t) - 1),
        "selected": f"{ITER}/selected.npz".format(**wildcards),
    }


def vary_params(rule_shard):
    return dict(
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        degree=lambda w: exp_cfg(w).degrees[int(w.t) - 1],
        seed=lambda w: exp_cfg(w).pe.seed,
        shard=rule_shard,
        code=code("vary"),
    )


rule vary_shard:
    input:
        unpack(vary_inputs),
    output:
        f"{ITER}/shards/population_{{shard}}.npz",
    params:
        **vary_params(shard_of),
    resources:
        gpu=lambda w: gpus(w, "vary"),
    priority: PRIORITY_LOOP
    log:
        "results/{exp}/logs/vary/eps_{eps}_iter_{t}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/vary/eps_{eps}_iter_{t}_shard_{shard}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vary")


rule vary:
    input:
        unpack(sharded(vary_inputs, f"{ITER}/shards/population_{{shard}}.npz")),
    output:
        f"{ITER}/population.npz",
    params:
        **vary_params(None),
    resources:
        gpu=lambda w: gathering_gpus(w, "vary"),
    priority: PRIORITY_LOOP
    group: cluster_group("generate")
    log:
        "results/{exp}/logs/vary/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/vary/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vary")
