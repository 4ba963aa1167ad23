# Release mode (release.enabled: true with release.epsilons named; needs the secret
# noise seed): results/{exp}/release/ holds only DP outputs, a sha256 manifest, and
# the composed privacy cost of every release made from the same private data; each release
# is also kept under results/{exp}/releases/release_NNN/ and recorded in the data set's ledger.


rule release:
    input:
        lambda w: [
            path
            for files in release_runs(w.exp).values()
            for path in [
                files["privacy"],
                files["final"],
                *files["votes"],
                *files["draws"],
            ]
        ],
    output:
        directory(RELEASE),
    log:
        job_log("release"),
    benchmark:
        job_benchmark("release")
    conda:
        "../../envs/pe.yaml"
    params:
        runs=lambda w: release_runs(w.exp),
        ledger=lambda w: ledger_private(data_source_of(w)),
        versions=lambda w: RELEASE_VERSIONS.format(exp=w.exp),
        class_names=lambda w: list(exp_cfg(w).dataset.class_names),
        generator=lambda w: exp_cfg(w).api.name,
        code=code("release"),
    script:
        stage_script("release")
