# The private data: loaded, split and embedded once per experiment.
# Everything under results/{exp}/private/ is private; only vote and evaluate read its data
# (the ledger rules read the draw records there: metadata, never data or counts).
# Logs of jobs that read private data go to results/{exp}/private/logs/ (see logs.py).


# A bad input (a missing file, an npz of float images) fails here, before prepare_private starts:
# Snakemake removes a job's outputs when it starts, so failing there would cost the finished
# split and every job after it. It reads no image and takes a moment: on a cluster it runs in
# the submitting process.
localrules:
    check_source,


rule check_source:
    output:
        SOURCE_CHECK,
    log:
        job_log("check_source_{check}"),
    benchmark:
        job_benchmark("check_source_{check}")
    wildcard_constraints:
        check=r"[0-9a-f]+",
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        # No code digest, unlike every other rule: the check reruns only when the fields it reads
        # change (its output's name follows them). Snakemake 9.27.1 never asks a job downstream of a
        # rerunning job through an ancient input whether its own params changed, so a code edit the
        # check and the data jobs share (datasets.py) reran the check and left the splits as they
        # were until the next invocation; and a rerun of the check alone must not rerun the splits
        # (and every vote after them, each a new noise draw).
        dataset=checked_dataset,
    shell:
        stage_command("check_source", "dataset")


# Which records the split makes private or evaluation data, checked against the data set's ledger
# of parts (split_ledger.py) before the data jobs start: a refusal in a data job would come after
# Snakemake removed its finished split. It loads the data (its number of images, an image folder's
# file names), so its log and output are private. No code digest, as for check_source: its output's
# name follows the fields that decide the part and the data jobs' code digest, so a split change
# (or a code edit that reruns the data jobs) makes a new check, planned with the data jobs that
# take it, and nothing else reruns it. Each check checks and records both parts. In no
# group: a failed group job has Snakemake remove the outputs of every job in it, the data jobs'
# finished splits included. (As for check_source, Snakemake 9.27.1 plans the data jobs only on
# the next invocation after a --forcerun of this rule alone.)
rule check_split:
    input:
        source_check,
    output:
        SPLIT_CHECK,
    log:
        job_log("check_split_{part}_{check}", private=True),
    benchmark:
        job_benchmark("check_split_{part}_{check}", private=True)
    wildcard_constraints:
        part="private|evaluation",
        check=r"[0-9a-f]+",
    priority: PRIORITY_PRIVATE
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        dataset=split_checked_dataset,
        ledger=data_set_ledger,
    shell:
        stage_command("check_split", "dataset", "ledger")


rule prepare_private:
    input:
        source_check,
        split_check("private"),
    output:
        private=fill(REAL_SET, split="private"),
        preparation=DATA_PREPARATION,
    log:
        job_log("prepare_private", private=True),
    benchmark:
        job_benchmark("prepare_private", private=True)
    priority: PRIORITY_PRIVATE
    group:
        cluster_group(None, iteration="data")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        # the private split depends on neither held-out size (the private part is the permutation's
        # start, the held-out parts its end): editing them reruns no preparation, so no vote draws anew
        dataset=section_options("dataset", ignore=("num_heldout", "num_validation")),
        # where each preparation is counted (ledger.next_preparation): its id names the votes' draws
        ledger=data_set_ledger,
        code=code("prepare_private"),
    shell:
        stage_command("prepare_private", "dataset", "ledger")


use rule prepare_private as prepare_heldout with:
    input:
        source_check,
        split_check("evaluation"),
    output:
        heldout=fill(REAL_SET, split="heldout"),
    log:
        job_log("prepare_heldout", private=True),
    benchmark:
        job_benchmark("prepare_heldout", private=True)
    priority: 0
    params:
        dataset=section_options("dataset"),
        code=code("prepare_private"),


use rule prepare_private as prepare_validation with:
    input:
        source_check,
        split_check("evaluation"),
    output:
        validation=fill(REAL_SET, split="validation"),
    log:
        job_log("prepare_validation", private=True),
    benchmark:
        job_benchmark("prepare_validation", private=True)
    priority: PRIORITY_PRIVATE
    params:
        dataset=section_options("dataset"),
        code=code("prepare_private"),


# The evaluation feature space learnt from the validation part (real held-out images, never
# the private set): trained once per experiment, used only by evaluation.
rule train_feature_classifier:
    input:
        fill(REAL_SET, split="validation"),
    output:
        FEATURE_CLASSIFIER,
    log:
        job_log("train_feature_classifier", private=True),
    benchmark:
        job_benchmark("train_feature_classifier", private=True)
    priority: PRIORITY_PRIVATE
    group:
        cluster_group(None, iteration="data")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        num_classes=setting("dataset.class_names", len),
        classifier=setting("evaluation.classifier", JobOptions),
        code=code("train_feature_classifier"),
    shell:
        stage_command("train_feature_classifier", "num_classes", "classifier")


rule embed_real_shard:
    input:
        REAL_SET,
        unpack(embedder_inputs),
    output:
        REAL_EMBEDDING_SHARD,
    log:
        job_log("embed_real/{split}_{embedder}_shard_{shard}", private=True),
    benchmark:
        job_benchmark("embed_real/{split}_{embedder}_shard_{shard}", private=True)
    priority: PRIORITY_PRIVATE
    conda:
        JOB_ENV
    threads: setting("compute.embed_threads")
    resources:
        gpu=gpu_request("embed"),
    params:
        job_files=job_files,
        embedder=embedder_params,
        shard=shard_of,
        code=code("embed", wildcard_embedder),
    shell:
        stage_command("embed", "embedder", "shard")


use rule embed_real_shard as embed_real with:
    input:
        unpack(sharded({"images": REAL_SET}, REAL_EMBEDDING_SHARD)),
        unpack(embedder_inputs),
    output:
        REAL_EMBEDDING,
    log:
        job_log("embed_real/{split}_{embedder}", private=True),
    benchmark:
        job_benchmark("embed_real/{split}_{embedder}", private=True)
    group:
        cluster_group("embed", iteration="data")
    resources:
        gpu=gpu_request("embed", gathering=True),
    params:
        shard=None,
