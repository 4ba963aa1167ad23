"""Rules embed, embed_shard, embed_real and embed_real_shard: embed a population or the
private / held-out set (all of it, or one shard), or gather the shards' embeddings."""
from private_evolution.stages.embed import embed, gather_embeddings
from private_evolution.logs import stage_logging
from private_evolution.sharding import job_part
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], job.label("embed", job.output[0])):
    shard, shards = job_part(job.params.shard, job.input)
    if shards:
        gather_embeddings(shards, job.output[0])
    else:
        embed(job.input[0], job.output[0], job.params.embedder, threads=job.threads, shard=shard)
