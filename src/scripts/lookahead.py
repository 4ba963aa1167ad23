"""Rules lookahead and lookahead_shard: embed each candidate as the mean embedding of L of its
variations (all candidates or one shard's), or gather the shards' mean embeddings."""
from private_evolution.stages.lookahead import lookahead
from private_evolution.logs import stage_logging
from private_evolution.sharding import gather_arrays, job_part

with stage_logging(snakemake.log[0], f"{snakemake.rule} {snakemake.wildcards.run} t={snakemake.wildcards.any_t}"):
    shard, shards = job_part(snakemake.params.shard, snakemake.input)
    if shards:
        gather_arrays(shards, snakemake.output[0])
    else:
        lookahead(
            snakemake.params.api,
            snakemake.params.dataset,
            snakemake.params.embedder,
            snakemake.input.population,
            snakemake.params.degree,
            snakemake.params.lookahead,
            int(snakemake.wildcards.any_t),
            snakemake.params.epsilon,
            snakemake.params.seed,
            snakemake.output[0],
            threads=snakemake.threads,
            shard=shard,
        )
