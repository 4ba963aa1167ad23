"""Rules embed and embed_real: embed a population, or the private / held-out set."""
from private_evolution.stages.embed import embed
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"embed {snakemake.input[0]}"):
    embed(snakemake.input[0], snakemake.output[0], snakemake.params.embedder, threads=snakemake.threads)
