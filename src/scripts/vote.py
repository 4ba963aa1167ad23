"""Rule vote: the DP nearest-neighbour histogram (the only stage reading private embeddings)."""
from private_evolution.stages.vote import vote
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"vote eps_{snakemake.wildcards.eps} t={snakemake.wildcards.t}"):
    vote(
        snakemake.input.private,
        snakemake.input.population,
        snakemake.input.privacy,
        int(snakemake.wildcards.t),
        f"eps_{snakemake.wildcards.eps}",
        snakemake.output[0],
        backend=snakemake.params.backend,
    )
