# The epsilon = inf run: a non-private reference. Its votes carry no noise (vote_reference in
# pe.smk), so everything made from them is private: each step after the vote is the rule of
# pe.smk or evaluate.smk, run in the reference's folder under private/ (contract.REFERENCE_RUN,
# private/eps_inf) and logging under private/logs/. Only the metrics table and the report show
# its numbers and samples, labelled as a non-private reference; a release never reads them.


use rule select as select_reference with:
    log:
        job_log("select/{run}_iter_{t}", private=True),
    benchmark:
        job_benchmark("select/{run}_iter_{t}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule vary_shard as vary_shard_reference with:
    log:
        job_log("vary/{run}_iter_{t}_shard_{shard}", private=True),
    benchmark:
        job_benchmark("vary/{run}_iter_{t}_shard_{shard}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule vary as vary_reference with:
    log:
        job_log("vary/{run}_iter_{t}", private=True),
    benchmark:
        job_benchmark("vary/{run}_iter_{t}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule embed_shard as embed_shard_reference with:
    log:
        job_log("embed/{run}_iter_{any_t}_{embedder}_shard_{shard}", private=True),
    benchmark:
        job_benchmark("embed/{run}_iter_{any_t}_{embedder}_shard_{shard}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule embed as embed_reference with:
    log:
        job_log("embed/{run}_iter_{any_t}_{embedder}", private=True),
    benchmark:
        job_benchmark("embed/{run}_iter_{any_t}_{embedder}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule lookahead_shard as lookahead_shard_reference with:
    log:
        job_log("lookahead/{run}_iter_{any_t}_{embedder}_shard_{shard}", private=True),
    benchmark:
        job_benchmark(
            "lookahead/{run}_iter_{any_t}_{embedder}_shard_{shard}", private=True
        )
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule lookahead as lookahead_reference with:
    log:
        job_log("lookahead/{run}_iter_{any_t}_{embedder}", private=True),
    benchmark:
        job_benchmark("lookahead/{run}_iter_{any_t}_{embedder}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule evaluate as evaluate_reference with:
    log:
        job_log("evaluate/{run}_iter_{any_t}_{embedder}", private=True),
    benchmark:
        job_benchmark("evaluate/{run}_iter_{any_t}_{embedder}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,


use rule evaluate_accuracy as evaluate_accuracy_reference with:
    log:
        job_log("evaluate_accuracy/{run}", private=True),
    benchmark:
        job_benchmark("evaluate_accuracy/{run}", private=True)
    wildcard_constraints:
        run=REFERENCE_RUN,
