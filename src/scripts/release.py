"""Rule release: copy only the DP outputs into results/{exp}/release/ (and a numbered copy under
results/{exp}/releases/) with a sha256 manifest and the composed cost from the data set's ledger."""
from private_evolution.logs import stage_logging
from private_evolution.stages.release import release

with stage_logging(snakemake.log[0], "release"):
    release(
        snakemake.params.runs,
        snakemake.output[0],
        snakemake.wildcards.exp,
        snakemake.params.ledger,
        snakemake.params.versions,
        snakemake.params.class_names,
        snakemake.params.generator,
    )
