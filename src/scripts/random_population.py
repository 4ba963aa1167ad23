"""Rules random_population and random_population_shard: RANDOM_API (touches no private data;
shared by every epsilon), all of it or one shard, or the shards gathered."""
from private_evolution.stages.random_population import random_population
from private_evolution.sharding import gather_populations, job_part
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], job.label("random_population")):
    shard, shards = job_part(job.params.shard, job.input)
    if shards:
        gather_populations(shards, job.output[0])
    else:
        random_population(
            job.params.api, job.params.dataset, job.params.num_samples, job.params.seed,
            job.output[0], shard=shard, threads=job.threads,
        )
