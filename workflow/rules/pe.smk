# The PE loop. Iteration 0 (RANDOM_API) touches no private data and is shared by
# every epsilon; iteration t >= 1 of epsilon e is embed(t-1) -> vote -> select -> vary.
# The epsilon = inf run (no noise) is private: vote_reference here, and reference.smk's
# copies of the other steps, write it under private/eps_inf/.
# A sharded stage is written once, as its <stage>_shard rule; the rule of the stage's
# own name is derived from it (use rule ... with:) and either runs the whole stage
# (compute.shards: 1, no shard job exists) or gathers the shards' files (see sharded()).


rule calibrate:
    output:
        PRIVACY,
    log:
        job_log("calibrate/eps_{eps}"),
    benchmark:
        job_benchmark("calibrate/eps_{eps}")
    priority: PRIORITY_LOOP
    group:
        cluster_group("calibrate")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        epsilon=wildcard("eps", float),
        privacy=calibration_privacy,
        iterations=setting("pe.iterations"),
        k=setting("pe.k"),
        # histogram bins per vote: the sampler's share of delta scales with them
        bins=setting("pe.num_samples"),
        threshold=setting("pe.threshold", JobOptions),
        code=code("calibrate"),
    shell:
        stage_command(
            "calibrate", "privacy", "epsilon", "iterations", "k", "threshold", "bins"
        )


rule random_population_shard:
    output:
        intermediate(f"{ITER_ZERO}/{POPULATION_SHARD}"),
    log:
        job_log("random_population/shard_{shard}"),
    benchmark:
        job_benchmark("random_population/shard_{shard}")
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    resources:
        gpu=gpu_request("random_population"),
    params:
        job_files=job_files,
        api=api_params,
        dataset=api_target,
        num_samples=setting("pe.num_samples"),
        seed=setting("pe.seed"),
        shard=shard_of,
        code=code("random_population", chosen_api),
    shell:
        stage_command(
            "random_population", "api", "dataset", "num_samples", "seed", "shard"
        )


# The stage itself: one job, or with compute.shards > 1 the job gathering the shards.
use rule random_population_shard as random_population with:
    input:
        unpack(sharded({}, f"{ITER_ZERO}/{POPULATION_SHARD}")),
    output:
        intermediate(f"{ITER_ZERO}/{POPULATION}"),
    log:
        job_log("random_population"),
    benchmark:
        job_benchmark("random_population")
    group:
        cluster_group("generate", iteration="zero")
    resources:
        gpu=gpu_request("random_population", gathering=True),
    params:
        shard=None,


# The zero-privacy baseline's training set when pe.final_samples differs from N: RANDOM_API
# of the final population's size (evaluate_accuracy judges both on as many samples). One job of
# its own, with the GPU a RANDOM_API job asks for.
use rule random_population_shard as random_baseline with:
    output:
        RANDOM_BASELINE,
    log:
        job_log("random_baseline"),
    benchmark:
        job_benchmark("random_baseline")
    params:
        num_samples=setting("final_size"),
        shard=None,


rule embed_shard:
    input:
        f"{ANY_ITER}/{POPULATION}",
        unpack(embedder_inputs),
    output:
        intermediate(f"{ANY_ITER}/{EMBEDDING_SHARD}"),
    log:
        job_log("embed/{run}_iter_{any_t}_{embedder}_shard_{shard}"),
    benchmark:
        job_benchmark("embed/{run}_iter_{any_t}_{embedder}_shard_{shard}")
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    threads: setting("compute.embed_threads")
    resources:
        gpu=gpu_request("embed"),
    params:
        job_files=job_files,
        embedder=embedder_params,
        shard=shard_of,
        code=code("embed", wildcard_embedder),
    shell:
        stage_command("embed", "embedder", "shard")


use rule embed_shard as embed with:
    input:
        unpack(
            sharded(
                {"images": f"{ANY_ITER}/{POPULATION}"},
                f"{ANY_ITER}/{EMBEDDING_SHARD}",
            )
        ),
        unpack(embedder_inputs),
    output:
        intermediate(f"{ANY_ITER}/{EMBEDDING}"),
    log:
        job_log("embed/{run}_iter_{any_t}_{embedder}"),
    benchmark:
        job_benchmark("embed/{run}_iter_{any_t}_{embedder}")
    group:
        cluster_group("embed")
    resources:
        gpu=gpu_request("embed", gathering=True),
    params:
        shard=None,


rule lookahead_shard:
    input:
        population=f"{ANY_ITER}/{POPULATION}",
    output:
        intermediate(f"{ANY_ITER}/{LOOKAHEAD_SHARD}"),
    log:
        job_log("lookahead/{run}_iter_{any_t}_{embedder}_shard_{shard}"),
    benchmark:
        job_benchmark("lookahead/{run}_iter_{any_t}_{embedder}_shard_{shard}")
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    threads: setting("compute.embed_threads")
    resources:
        gpu=gpu_request("lookahead"),
    params:
        **lookahead_params(shard_of),
    shell:
        stage_command(
            "lookahead",
            "api",
            "dataset",
            "embedder",
            "degree",
            "lookahead",
            "epsilon",
            "seed",
            "shard",
        )


# With compute.shards > 1 each shard varies and embeds its run of whole chunks of candidates
# (stages/lookahead.py) and this job concatenates their mean embeddings.
use rule lookahead_shard as lookahead with:
    input:
        unpack(
            sharded(
                {"population": f"{ANY_ITER}/{POPULATION}"},
                f"{ANY_ITER}/{LOOKAHEAD_SHARD}",
            )
        ),
    output:
        intermediate(f"{ANY_ITER}/{LOOKAHEAD}"),
    log:
        job_log("lookahead/{run}_iter_{any_t}_{embedder}"),
    benchmark:
        job_benchmark("lookahead/{run}_iter_{any_t}_{embedder}")
    group:
        cluster_group("lookahead")
    resources:
        gpu=gpu_request("lookahead", gathering=True),
    params:
        **lookahead_params(None),


rule vote_shard:
    input:
        unpack(vote_inputs),
        unpack(private_input),
    output:
        VOTE_COUNTS,
    log:
        job_log("vote/eps_{eps}_iter_{t}_shard_{shard}", private=True),
    benchmark:
        job_benchmark("vote/eps_{eps}_iter_{t}_shard_{shard}", private=True)
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        settings=vote_settings,
        shard=shard_of,
        # the gathering vote's (vote.py reads them there); a shard job only counts
        ledger=None,
        private_path=None,
        split=None,
        code=code("vote"),
    shell:
        stage_command("vote", "settings", "shard", "ledger", "private_path", "split")


# The DP vote of a finite epsilon: its noisy histogram is public. The draw is recorded in
# the data set's ledger (results/_ledger/<source>/private/) and named in draw.json under
# private/; its key is made of what was asked (candidates, settings, the private path's code
# and config, the id of the data's preparation), never of the counts.
use rule vote_shard as vote with:
    input:
        unpack(vote_inputs),
        unpack(private_input),
        unpack(sharded({}, VOTE_COUNTS)),
        preparation=DATA_PREPARATION,
    output:
        votes=f"{ITER}/{VOTES}",
        draw=DRAW,
    log:
        job_log("vote/eps_{eps}_iter_{t}", private=True),
    benchmark:
        job_benchmark("vote/eps_{eps}_iter_{t}", private=True)
    wildcard_constraints:
        eps=FINITE_EPS,
    group:
        cluster_group("vote")
    params:
        ledger=data_set_ledger,
        private_path=private_path_key,
        split=private_split_id,
        shard=None,


# epsilon = inf: no noise, so the counts are private and stay under private/; the chain
# made from them (select, vary, embed, evaluate) is a non-private reference, never released.
use rule vote as vote_reference with:
    output:
        votes=f"{PRIVATE_ITER}/{VOTES}",
        draw=DRAW,
    wildcard_constraints:
        eps="inf",


# Select and vary write to RUN_ITER, iteration t of a {run} folder: eps_<e>/iter_<t> for a finite
# epsilon here; for epsilon = inf, made from the un-noised votes, reference.smk derives the same
# rules for the private folder private/eps_inf/iter_<t>.
rule select:
    input:
        votes=selection_votes,
    output:
        f"{RUN_ITER}/{SELECTED}",
    log:
        job_log("select/{run}_iter_{t}"),
    benchmark:
        job_benchmark("select/{run}_iter_{t}")
    wildcard_constraints:
        run=FINITE_RUN,
    priority: PRIORITY_LOOP
    group:
        cluster_group("vote")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        epsilon=run_epsilon,
        seed=setting("pe.seed"),
        # ids to draw: N, and the synthetic set's size (pe.final_samples) at the last iteration
        size=selection_size,
        num_classes=setting("dataset.class_names", len),
        code=code("select"),
    shell:
        stage_command("select", "epsilon", "seed", "size", "num_classes")


rule vary_shard:
    input:
        unpack(vary_inputs),
    output:
        intermediate(f"{RUN_ITER}/{POPULATION_SHARD}"),
    log:
        job_log("vary/{run}_iter_{t}_shard_{shard}"),
    benchmark:
        job_benchmark("vary/{run}_iter_{t}_shard_{shard}")
    wildcard_constraints:
        run=FINITE_RUN,
    priority: PRIORITY_LOOP
    conda:
        JOB_ENV
    resources:
        gpu=gpu_request("vary"),
    params:
        **vary_params(shard_of),
    shell:
        stage_command("vary", "api", "dataset", "degree", "epsilon", "seed", "shard")


use rule vary_shard as vary with:
    input:
        unpack(sharded(vary_inputs, f"{RUN_ITER}/{POPULATION_SHARD}")),
    output:
        intermediate(f"{RUN_ITER}/{POPULATION}"),
    log:
        job_log("vary/{run}_iter_{t}"),
    benchmark:
        job_benchmark("vary/{run}_iter_{t}")
    group:
        cluster_group("generate")
    resources:
        gpu=gpu_request("vary", gathering=True),
    params:
        **vary_params(None),
