"""Rule vary: VARIATION_API on the selected samples -> the next population."""
from private_evolution.stages.vary import vary
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], f"vary eps_{snakemake.wildcards.eps} t={snakemake.wildcards.t}"):
    vary(
        snakemake.params.api,
        snakemake.params.dataset,
        snakemake.input.population,
        snakemake.input.selected,
        snakemake.params.degree,
        int(snakemake.wildcards.t),
        f"eps_{snakemake.wildcards.eps}",
        snakemake.params.seed,
        snakemake.output[0],
    )
