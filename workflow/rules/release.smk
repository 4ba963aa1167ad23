# Release mode (release.enabled: true with release.epsilons named; needs the secret
# noise seed): results/{exp}/release/ holds only DP outputs, a sha256 manifest, and
# the composed privacy cost of every release made from the same private data; each release
# is also kept under results/{exp}/releases/release_NNN/ and recorded in the data set's ledger.


rule release:
    input:
        release_inputs,
    output:
        directory(RELEASE),
    log:
        job_log("release"),
    benchmark:
        job_benchmark("release")
    conda:
        JOB_ENV
    params:
        job_files=job_files,
        runs=wildcard("exp", release_runs),
        ledger=data_set_ledger,
        versions=RELEASE_VERSIONS,
        class_names=setting("dataset.class_names", list),
        generator=setting("api.name"),
        code=code("release"),
    shell:
        stage_command(
            "release", "runs", "ledger", "versions", "class_names", "generator"
        )
