"""Rules random_population and random_population_shard: RANDOM_API (touches no private data;
shared by every epsilon), all of it or one shard, or the shards gathered."""
from private_evolution.stages.random_population import random_population
from private_evolution.sharding import gather_populations, job_part
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], snakemake.rule):
    shard, shards = job_part(snakemake.params.shard, snakemake.input)
    if shards:
        gather_populations(shards, snakemake.output[0])
    else:
        random_population(
            snakemake.params.api, snakemake.params.dataset, snakemake.params.num_samples, snakemake.params.seed,
            snakemake.output[0], shard=shard,
        )
