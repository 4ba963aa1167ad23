"""Rules prepare_private, prepare_heldout and prepare_validation: load the data set and write the
private split, the held-out test split or the validation split (evaluation only), each in its own job."""
from private_evolution.stages.prepare_private import prepare_private
from private_evolution.logs import stage_logging

with stage_logging(snakemake.log[0], snakemake.rule):
    prepare_private(
        snakemake.params.dataset,
        snakemake.output.get("private"),
        snakemake.output.get("heldout"),
        snakemake.output.get("validation"),
        snakemake.output.get("fingerprint"),
    )
