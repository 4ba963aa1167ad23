"""Rules embed, embed_shard, embed_real and embed_real_shard: embed a population or the
private / held-out set (all of it, or one shard), or gather the shards' embeddings."""
from private_evolution.stages.embed import embed, gather_embeddings
from private_evolution.logs import stage_logging
from private_evolution.sharding import job_part

with stage_logging(snakemake.log[0], f"{snakemake.rule} {snakemake.output[0]}"):
    shard, shards = job_part(snakemake.params.shard, snakemake.input)
    if shards:
        gather_embeddings(shards, snakemake.output[0])
    else:
        embed(snakemake.input[0], snakemake.output[0], snakemake.params.embedder, threads=snakemake.threads, shard=shard)
