# Release mode (release.enabled: true with release.epsilons named; needs the secret
# noise seed): results/{exp}/release/ holds only DP outputs, a sha256 manifest, and
# the composed privacy cost of every release made from the same private data.


def release_runs(exp_name):
    exp = EXPERIMENTS[exp_name]
    T = exp.pe.iterations
    return {
        eps: {
            "privacy": f"results/{exp_name}/eps_{eps}/privacy.json",
            "votes": [votes_path(exp_name, eps, t) for t in range(1, T + 1)],
            "draws": [draw_path(exp_name, eps, t) for t in range(1, T + 1)],
            "final": population_path(exp_name, eps, T),
        }
        for eps in map(epsilon_label, exp.release.epsilons)
    }


def same_private_data(exp_name):
    """Experiments whose releases compose with this one's: the same dataset and split."""
    dataset = EXPERIMENTS[exp_name].section("dataset")
    return [
        name
        for name, other in EXPERIMENTS.items()
        if other.release.enabled and other.section("dataset") == dataset
    ]


def composed_releases(exp_name):
    return [
        {"experiment": name, "epsilon": eps, "privacy": f"results/{name}/eps_{eps}/privacy.json"}
        for name in same_private_data(exp_name)
        for eps in map(epsilon_label, EXPERIMENTS[name].release.epsilons)
    ]


rule release:
    input:
        lambda w: [
            path
            for files in release_runs(w.exp).values()
            for path in [files["privacy"], files["final"], *files["votes"], *files["draws"]]
        ],
        lambda w: [run["privacy"] for run in composed_releases(w.exp)],
    output:
        directory("results/{exp}/release"),
    params:
        runs=lambda w: release_runs(w.exp),
        composed=lambda w: composed_releases(w.exp),
        private_dir=lambda w: PRIVATE.format(exp=w.exp),
        code=code("release"),
    log:
        "results/{exp}/logs/release.log",
    benchmark:
        "results/{exp}/benchmarks/release.tsv"
    conda:
        "../../envs/pe.yaml"
    script:
        stage_script("release")
