"""Rules vote, vote_reference and vote_shard: the DP nearest-neighbour histogram (the only stage
reading private embeddings). vote_shard reads one private embedding shard and writes its clean counts under private/;
vote adds the noise, once, to the counts (its own, or the sum of the shards');
vote_reference is the un-noised epsilon = inf vote, written under private/."""
from private_evolution.stages.vote import vote, vote_counts
from private_evolution.logs import stage_logging
from private_evolution.sharding import job_part

with stage_logging(snakemake.log[0], f"{snakemake.rule} eps_{snakemake.wildcards.eps} t={snakemake.wildcards.t}"):
    shard, shard_counts = job_part(snakemake.params.shard, snakemake.input)
    if shard:
        vote_counts(
            snakemake.input.private,
            snakemake.input.population,
            snakemake.input.privacy,
            snakemake.output[0],
            backend=snakemake.params.settings["nn_backend"],
        )
    else:
        vote(
            snakemake.input.get("private"),
            snakemake.input.population,
            snakemake.input.privacy,
            snakemake.wildcards.exp,
            int(snakemake.wildcards.t),
            snakemake.params.ledger,
            snakemake.input.fingerprint,
            str(snakemake.params.private_path),
            snakemake.output.votes,
            snakemake.output.draw,
            backend=snakemake.params.settings["nn_backend"],
            shard_counts_paths=shard_counts,
            split=snakemake.params.split,
        )
