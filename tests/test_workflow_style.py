"""The rule files as a Snakemake reader expects them: no lint, snakefmt's layout."""

from __future__ import annotations

import os
import subprocess
import sys

from workflow_helpers import REPO


def test_snakemake_lint_finds_nothing():
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--directory", str(REPO), "-s", str(REPO / "workflow" / "Snakefile")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output[-4000:]
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakefmt_leaves_the_workflow_unchanged():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", str(REPO / "workflow")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_rules_name_their_functions():
    """Each param, input, threads or resources line of a rule names a function of common.smk (or a
    reader one builds, such as setting("pe.k")) or is a plain value: no lambda or inline config
    lookup, so a reader sees what each job gets by name."""
    import re

    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        if smk.name == "common.smk":
            continue
        text = smk.read_text()
        for found in re.finditer(r"lambda|exp_cfg\(|EXPERIMENTS\[", text):
            line = text.count("\n", 0, found.start()) + 1
            raise AssertionError(f"{smk.name}:{line}: {found.group()} in a rule; name a function in common.smk")


def test_rules_and_config_code_never_test_an_implementation_name():
    """Capabilities, not names, decide what a job does: no `== "pixels"`, `!= "glyph_simulator"`,
    `in ("inception", ...)` in the rules, the Snakefile, the config code or the stages."""
    import re

    from private_evolution.apis import REGISTRY as APIS
    from private_evolution.embedders import REGISTRY as EMBEDDERS
    from private_evolution.metrics import REGISTRY as METRICS

    names = [*APIS.builtins, *EMBEDDERS.builtins, *METRICS.builtins]
    assert {"glyph_simulator", "pixels", "inception", "classifier", "frechet_distance"} <= set(names)
    quoted = "|".join(re.escape(name) for name in names)
    comparison = re.compile(rf"""(==|!=|\bin)\s*[\(\[{{]?\s*["']({quoted})["']|["']({quoted})["']\s*(==|!=|\bin\b)""")
    files = [
        REPO / "workflow" / "Snakefile",
        *(REPO / "workflow" / "rules").glob("*.smk"),
        REPO / "src" / "private_evolution" / "config.py",
        REPO / "src" / "private_evolution" / "report.py",
        *(REPO / "src" / "private_evolution" / "stages").glob("*.py"),
    ]
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if comparison.search(line) and not line.strip().startswith("#")
    ]
    assert found == []
    # the check sees such a test when there is one
    assert comparison.search('runs_network = exp.embedder.name != "pixels"')
    assert comparison.search('if name in ("inception", "classifier"):')


def test_every_jobs_benchmark_file_is_the_one_its_log_names(tmp_path):
    """Rules take log and benchmark from contract.job_log/job_benchmark with one name, so that
    a job's benchmark file is found from its log (benchmark_of_log) and private jobs keep both
    under private/. Checked on every job of a dry run, shard and gather jobs included."""
    import re

    from private_evolution.contract import benchmark_of_log
    from workflow_helpers import copy_repository, snakemake, tiny_config, write_config

    workdir = copy_repository(tmp_path)
    config = tiny_config()
    config["experiments"]["tiny"]["compute"] = {"shards": 2}
    config["experiments"]["tiny"]["evaluation"]["embedders"].append("classifier")
    config["experiments"]["tiny"]["dataset"]["num_validation"] = 20
    write_config(workdir, config)
    output = snakemake(workdir, "--dry-run").stdout
    jobs = re.findall(r"rule (\w+):\n((?:\s+\w[\w ]*: .*\n)+)", output)
    rules = set()
    for rule, body in jobs:
        if rule == "all":  # the target list: no job runs
            continue
        fields = dict(re.findall(r"^\s+(\w+): (.*)$", body, flags=re.M))
        assert fields.get("benchmark") == benchmark_of_log(fields["log"]), (rule, fields)
        rules.add(rule)
    assert {"vote_shard", "vote", "embed_shard", "embed", "vary_shard", "vary", "embed_real_shard", "plot",
            "prepare_validation", "train_feature_classifier", "evaluate"} <= rules
    assert len(jobs) > 50
