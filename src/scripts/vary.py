"""Rules vary and vary_shard: VARIATION_API on the selected samples -> the next population
(all of it or one shard), or the shards gathered."""
from private_evolution.stages.vary import vary
from private_evolution.sharding import gather_populations, job_part
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"{snakemake.rule} {snakemake.wildcards.run} t={snakemake.wildcards.t}"):
    shard, shards = job_part(snakemake.params.shard, snakemake.input)
    if shards:
        gather_populations(shards, snakemake.output[0])
    else:
        vary(
            snakemake.params.api,
            snakemake.params.dataset,
            snakemake.input.population,
            snakemake.input.selected,
            snakemake.params.degree,
            int(snakemake.wildcards.t),
            snakemake.params.epsilon,
            snakemake.params.seed,
            snakemake.output[0],
            shard=shard,
        )
