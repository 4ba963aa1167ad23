# The PE loop. Iteration 0 (RANDOM_API) touches no private data and is shared by
# every epsilon; iteration t >= 1 of epsilon e is embed(t-1) -> vote -> select -> vary.
# A sharded stage is written once, as its <stage>_shard rule; the rule of the stage's
# own name is derived from it (use rule ... with:) and either runs the whole stage
# (compute.shards: 1, no shard job exists) or gathers the shards' files (see sharded()).


rule calibrate:
    output:
        "results/{exp}/eps_{eps}/privacy.json",
    log:
        "results/{exp}/logs/calibrate/eps_{eps}.log",
    benchmark:
        "results/{exp}/benchmarks/calibrate/eps_{eps}.tsv"
    priority: PRIORITY_LOOP
    group:
        cluster_group("calibrate")
    conda:
        "../../envs/pe.yaml"
    params:
        epsilon=lambda w: float(w.eps),
        privacy=lambda w: JobOptions(
            {
                "delta": exp_cfg(w).privacy.delta,
                "adjacency": exp_cfg(w).privacy.adjacency,
                "seed_mode": exp_cfg(w).privacy.seed_mode,
                # the public seed matters only in public mode: a secret-seed run never reruns for it
                "seed": (
                    exp_cfg(w).privacy.seed
                    if exp_cfg(w).privacy.seed_mode == "public"
                    else None
                ),
            }
        ),
        iterations=lambda w: exp_cfg(w).pe.iterations,
        k=lambda w: exp_cfg(w).pe.k,
        threshold=lambda w: JobOptions(exp_cfg(w).pe.threshold),
        code=code("calibrate"),
    script:
        stage_script("calibrate")


rule random_population_shard:
    output:
        f"{ITER_ZERO}/shards/population_{{shard}}.npz",
    log:
        "results/{exp}/logs/random_population/shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/random_population/shard_{shard}.tsv"
    priority: PRIORITY_LOOP
    conda:
        "../../envs/pe.yaml"
    resources:
        gpu=lambda w: gpus(w, "random_population"),
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        num_samples=lambda w: exp_cfg(w).pe.num_samples,
        seed=lambda w: exp_cfg(w).pe.seed,
        shard=shard_of,
        code=code("random_population"),
    script:
        stage_script("random_population")


# The stage itself: one job, or with compute.shards > 1 the job gathering the shards.
use rule random_population_shard as random_population with:
    input:
        unpack(sharded(lambda w: {}, f"{ITER_ZERO}/shards/population_{{shard}}.npz")),
    output:
        f"{ITER_ZERO}/population.npz",
    log:
        "results/{exp}/logs/random_population.log",
    benchmark:
        "results/{exp}/benchmarks/random_population.tsv"
    group:
        cluster_group("generate", iteration="zero")
    resources:
        gpu=lambda w: gathering_gpus(w, "random_population"),
    params:
        shard=None,


rule embed_shard:
    input:
        "results/{exp}/{run}/iter_{any_t}/population.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/shards/embed_{embedder}_{shard}.npz",
    log:
        "results/{exp}/logs/embed/{run}_iter_{any_t}_{embedder}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/embed/{run}_iter_{any_t}_{embedder}_shard_{shard}.tsv"
    priority: PRIORITY_LOOP
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


use rule embed_shard as embed with:
    input:
        unpack(
            sharded(
                {"images": "results/{exp}/{run}/iter_{any_t}/population.npz"},
                "results/{exp}/{run}/iter_{any_t}/shards/embed_{embedder}_{shard}.npz",
            )
        ),
    output:
        "results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
    log:
        "results/{exp}/logs/embed/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/embed/{run}_iter_{any_t}_{embedder}.tsv"
    group:
        cluster_group("embed")
    resources:
        gpu=lambda w: gathering_gpus(w, "embed"),
    params:
        shard=None,


rule lookahead:
    input:
        "results/{exp}/{run}/iter_{any_t}/population.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/lookahead_{embedder}.npz",
    log:
        "results/{exp}/logs/lookahead/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/lookahead/{run}_iter_{any_t}_{embedder}.tsv"
    priority: PRIORITY_LOOP
    group:
        cluster_group("lookahead")
    conda:
        "../../envs/pe.yaml"
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "lookahead"),
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        embedder=embedder_params,
        # the candidates of iteration t are varied with the degree of iteration t + 1
        degree=lambda w: exp_cfg(w).degrees[int(w.any_t)],
        lookahead=lambda w: exp_cfg(w).pe.lookahead,
        epsilon=run_epsilon,
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("lookahead"),
    script:
        stage_script("lookahead")


rule vote_shard:
    input:
        unpack(vote_inputs),
        unpack(private_input),
    output:
        VOTE_COUNTS,
    log:
        f"{PRIVATE}/logs/vote/eps_{{eps}}_iter_{{t}}_shard_{{shard}}.log",
    benchmark:
        "results/{exp}/benchmarks/vote/eps_{eps}_iter_{t}_shard_{shard}.tsv"
    priority: PRIORITY_LOOP
    conda:
        "../../envs/pe.yaml"
    params:
        settings=lambda w: JobOptions({"nn_backend": exp_cfg(w).pe.nn_backend}),  # a run setting: no rerun
        shard=shard_of,
        code=code("vote"),
    script:
        stage_script("vote")


# The DP vote of a finite epsilon: its noisy histogram is public. The record of the
# draw (draw.json, which holds the digest of the clean counts) stays under private/.
use rule vote_shard as vote with:
    input:
        unpack(vote_inputs),
        unpack(private_input),
        unpack(sharded(lambda w: {}, VOTE_COUNTS)),
    output:
        votes=f"{ITER}/votes.npz",
        draw=DRAW,
    log:
        f"{PRIVATE}/logs/vote/eps_{{eps}}_iter_{{t}}.log",
    benchmark:
        "results/{exp}/benchmarks/vote/eps_{eps}_iter_{t}.tsv"
    wildcard_constraints:
        eps=FINITE_EPS,
    group:
        cluster_group("vote")
    params:
        private_dir=lambda w: PRIVATE.format(exp=w.exp),
        shard=None,


# epsilon = inf: no noise, so the counts are private and stay under private/; the chain
# made from them (select, vary, embed, evaluate) is a non-private reference, never released.
use rule vote as vote_reference with:
    output:
        votes=f"{PRIVATE_ITER}/votes.npz",
        draw=DRAW,
    wildcard_constraints:
        eps="inf",


rule select:
    input:
        votes=lambda w: votes_path(w.exp, w.eps, w.t),
    output:
        f"{ITER}/selected.npz",
    log:
        "results/{exp}/logs/select/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/select/eps_{eps}_iter_{t}.tsv"
    priority: PRIORITY_LOOP
    group:
        cluster_group("vote")
    conda:
        "../../envs/pe.yaml"
    params:
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("select"),
    script:
        stage_script("select")


rule vary_shard:
    input:
        unpack(vary_inputs),
    output:
        f"{ITER}/shards/population_{{shard}}.npz",
    log:
        "results/{exp}/logs/vary/eps_{eps}_iter_{t}_shard_{shard}.log",
    benchmark:
        "results/{exp}/benchmarks/vary/eps_{eps}_iter_{t}_shard_{shard}.tsv"
    priority: PRIORITY_LOOP
    conda:
        "../../envs/pe.yaml"
    resources:
        gpu=lambda w: gpus(w, "vary"),
    params:
        **vary_params(shard_of),
    script:
        stage_script("vary")


use rule vary_shard as vary with:
    input:
        unpack(sharded(vary_inputs, f"{ITER}/shards/population_{{shard}}.npz")),
    output:
        f"{ITER}/population.npz",
    log:
        "results/{exp}/logs/vary/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/vary/eps_{eps}_iter_{t}.tsv"
    group:
        cluster_group("generate")
    resources:
        gpu=lambda w: gathering_gpus(w, "vary"),
    params:
        **vary_params(None),
