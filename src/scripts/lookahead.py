"""Rule lookahead: embed each candidate as the mean embedding of L of its variations."""
from private_evolution.stages.lookahead import lookahead
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"lookahead {snakemake.wildcards.run} t={snakemake.wildcards.any_t}"):
    lookahead(
        snakemake.params.api,
        snakemake.params.dataset,
        snakemake.params.embedder,
        snakemake.input[0],
        snakemake.params.degree,
        snakemake.params.lookahead,
        int(snakemake.wildcards.any_t),
        snakemake.params.epsilon,
        snakemake.params.seed,
        snakemake.output[0],
        threads=snakemake.threads,
    )
