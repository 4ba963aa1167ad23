"""Rules vary and vary_shard: VARIATION_API on the selected samples -> the next population
(all of it or one shard), or the shards gathered."""
from private_evolution.stages.vary import vary
from private_evolution.sharding import gather_populations, job_part
from private_evolution.logs import stage_logging
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], job.label("vary", f"{job.wildcards.run} t={job.wildcards.t}")):
    shard, shards = job_part(job.params.shard, job.input)
    if shards:
        gather_populations(shards, job.output[0])
    else:
        vary(
            job.params.api,
            job.params.dataset,
            job.input.population,
            job.input.selected,
            job.params.degree,
            int(job.wildcards.t),
            job.params.epsilon,
            job.params.seed,
            job.output[0],
            shard=shard,
            threads=job.threads,
        )
