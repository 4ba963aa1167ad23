# Release mode (release.enabled: true, which requires privacy.seed_from_os: true):
# results/{exp}/release/ holds only DP outputs and a sha256 manifest.


def release_runs(exp_name):
    exp = EXPERIMENTS[exp_name]
    T = exp.pe.iterations
    return {
        eps: {
            "privacy": f"results/{exp_name}/eps_{eps}/privacy.json",
            "votes": [f"results/{exp_name}/eps_{eps}/iter_{t}/votes.npz" for t in range(1, T + 1)],
            "final": population_path(exp_name, eps, T),
        }
        for eps in exp.epsilon_labels
    }


rule release:
    input:
        lambda w: [
            path
            for files in release_runs(w.exp).values()
            for path in [files["privacy"], files["final"], *files["votes"]]
        ],
    output:
        directory("results/{exp}/release"),
    params:
        runs=lambda w: release_runs(w.exp),
        code=code("release"),
    log:
        "results/{exp}/logs/release.log",
    benchmark:
        "results/{exp}/benchmarks/release.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("release")
