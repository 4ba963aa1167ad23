"""Rules embed, embed_shard, embed_real and embed_real_shard: embed a population or the
private / held-out set (all of it, or one shard), or gather the shards' embeddings."""
from private_evolution.stages.embed import embed, gather_embeddings
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"{snakemake.rule} {snakemake.output[0]}"):
    if "shards" in snakemake.input.keys():
        gather_embeddings(list(snakemake.input.shards), snakemake.output[0])
    else:
        shard = snakemake.params.shard
        embed(snakemake.input[0], snakemake.output[0], snakemake.params.embedder, threads=snakemake.threads,
              shard=tuple(shard) if shard else None)
