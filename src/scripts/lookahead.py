"""Rules lookahead and lookahead_shard: embed each candidate as the mean embedding of L of its
variations (all candidates or one shard's), or gather the shards' mean embeddings."""
from private_evolution.stages.lookahead import lookahead
from private_evolution.logs import stage_logging
from private_evolution.sharding import gather_arrays, job_part
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], job.label("lookahead", f"{job.wildcards.run} t={job.wildcards.any_t}")):
    shard, shards = job_part(job.params.shard, job.input)
    if shards:
        gather_arrays(shards, job.output[0])
    else:
        lookahead(
            job.params.api,
            job.params.dataset,
            job.params.embedder,
            job.input.population,
            job.params.degree,
            job.params.lookahead,
            int(job.wildcards.any_t),
            job.params.epsilon,
            job.params.seed,
            job.output[0],
            threads=job.threads,
            shard=shard,
        )
