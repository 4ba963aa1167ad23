# The PE loop. Iteration 0 (RANDOM_API) touches no private data and is shared by
# every epsilon; iteration t >= 1 of epsilon e is embed(t-1) -> vote -> select -> vary.


rule calibrate:
    output:
        "results/{exp}/eps_{eps}/privacy.json",
    params:
        epsilon=lambda w: float(w.eps),
        privacy=lambda w: {
            "delta": exp_cfg(w).privacy.delta,
            "seed": exp_cfg(w).privacy.seed,
            "seed_from_os": exp_cfg(w).privacy.seed_from_os,
        },
        iterations=lambda w: exp_cfg(w).pe.iterations,
        k=lambda w: exp_cfg(w).pe.k,
        threshold=lambda w: exp_cfg(w).pe.threshold,
        code=code("calibrate"),
    log:
        "results/{exp}/logs/calibrate/eps_{eps}.log",
    benchmark:
        "results/{exp}/benchmarks/calibrate/eps_{eps}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("calibrate")


rule random_population:
    output:
        f"{ITER_ZERO}/population.npz",
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        num_samples=lambda w: exp_cfg(w).pe.num_samples,
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("random_population"),
    resources:
        gpu=lambda w: gpus(w, "random_population"),
    log:
        "results/{exp}/logs/random_population.log",
    benchmark:
        "results/{exp}/benchmarks/random_population.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("random_population")


rule embed:
    input:
        "results/{exp}/{run}/iter_{any_t}/population.npz",
    output:
        "results/{exp}/{run}/iter_{any_t}/embed_{embedder}.npz",
    params:
        embedder=embedder_params,
        code=code("embed"),
    threads: lambda w: EXPERIMENTS[w.exp].compute.embed_threads
    resources:
        gpu=lambda w: gpus(w, "embed"),
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
    log:
        "results/{exp}/logs/lookahead/{run}_iter_{any_t}_{embedder}.log",
    benchmark:
        "results/{exp}/benchmarks/lookahead/{run}_iter_{any_t}_{embedder}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("lookahead")


rule vote:
    input:
        private=lambda w: f"{PRIVATE}/private_embed_{embed_name(w)}.npz".format(exp=w.exp),
        population=lambda w: vote_features_path(w.exp, w.eps, int(w.t) - 1),
        privacy="results/{exp}/eps_{eps}/privacy.json",
    output:
        f"{ITER}/votes.npz",
    params:
        backend=lambda w: exp_cfg(w).pe.nn_backend,
        code=code("vote"),
    log:
        "results/{exp}/logs/vote/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/vote/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vote")


rule select:
    input:
        votes=f"{ITER}/votes.npz",
    output:
        f"{ITER}/selected.npz",
    params:
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("select"),
    log:
        "results/{exp}/logs/select/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/select/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("select")


rule vary:
    input:
        population=lambda w: population_path(w.exp, w.eps, int(w.t) - 1),
        selected=f"{ITER}/selected.npz",
    output:
        f"{ITER}/population.npz",
    params:
        api=lambda w: api_params(exp_cfg(w)),
        dataset=lambda w: api_target(exp_cfg(w)),
        degree=lambda w: exp_cfg(w).degrees[int(w.t) - 1],
        seed=lambda w: exp_cfg(w).pe.seed,
        code=code("vary"),
    resources:
        gpu=lambda w: gpus(w, "vary"),
    log:
        "results/{exp}/logs/vary/eps_{eps}_iter_{t}.log",
    benchmark:
        "results/{exp}/benchmarks/vary/eps_{eps}_iter_{t}.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("vary")
