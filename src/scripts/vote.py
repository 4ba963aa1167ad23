"""Rules vote, vote_reference and vote_shard: the DP nearest-neighbour histogram (the only stage
reading private embeddings). vote_shard reads one private embedding shard and writes its clean counts under private/;
vote adds the noise, once, to the counts (its own, or the sum of the shards');
vote_reference is the un-noised epsilon = inf vote, written under private/."""
from private_evolution.stages.vote import vote, vote_counts
from private_evolution.logs import stage_logging
from private_evolution.sharding import job_part
from private_evolution.job import stage_job

job = stage_job()

with stage_logging(job.log[0], job.label("vote", f"eps_{job.wildcards.eps} t={job.wildcards.t}")):
    shard, shard_counts = job_part(job.params.shard, job.input)
    if shard:
        vote_counts(
            job.input.private,
            job.input.population,
            job.input.privacy,
            job.output[0],
            backend=job.params.settings["nn_backend"],
        )
    else:
        vote(
            job.input.get("private"),
            job.input.population,
            job.input.privacy,
            job.wildcards.exp,
            int(job.wildcards.t),
            job.params.ledger,
            job.input.preparation,
            str(job.params.private_path),
            job.output.votes,
            job.output.draw,
            backend=job.params.settings["nn_backend"],
            shard_counts_paths=shard_counts,
            split=job.params.split,
        )
