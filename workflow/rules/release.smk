# Release mode (release.enabled: true with release.epsilons named; needs the secret
# noise seed): results/{exp}/release/ holds only DP outputs, a sha256 manifest, and
# the composed privacy cost of every release made from the same private data.


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
        lambda w: [run["privacy"] for run in composed_releases(w.exp)],
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
        composed=lambda w: composed_releases(w.exp),
        private_dir=lambda w: PRIVATE.format(exp=w.exp),
        code=code("release"),
    script:
        stage_script("release")
