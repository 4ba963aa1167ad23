"""The paper's setups as config files a user copies: they validate, plan the whole run, and stay
what the README shows."""

from __future__ import annotations

import re

import yaml

from workflow_helpers import REPO, copy_repository, planned_jobs, write_config

CIFAR10 = REPO / "config" / "cifar10_paper.yaml"


def readme_block(experiment: str) -> dict:
    """The config block of README.md that defines ``experiment``."""
    text = (REPO / "README.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        config = yaml.safe_load(block)
        if isinstance(config, dict) and experiment in config.get("experiments", {}):
            return config
    raise AssertionError(f"README.md shows no config of experiment {experiment}")


def test_the_cifar10_file_is_the_readmes_setup():
    assert yaml.safe_load(CIFAR10.read_text()) == readme_block("cifar10")


def test_the_cifar10_setup_plans_the_papers_run(tmp_path):
    """A dry run (no model, no data needed): 4 epsilons x 20 iterations, 8 shards per network stage,
    an accuracy per epsilon and the zero-privacy baseline's."""
    workdir = copy_repository(tmp_path / "run")
    write_config(workdir, yaml.safe_load(CIFAR10.read_text()))
    planned = planned_jobs(workdir)
    assert planned["vote"] == planned["select"] == planned["vary"] == 4 * 20
    assert planned["vote_shard"] == planned["vary_shard"] == 4 * 20 * 8
    assert planned["calibrate"] == 4 and planned["evaluate_accuracy"] == 4 + 1
    assert planned["random_population_shard"] == 8 and planned["embed_real_shard"] == 2 * 8
    assert any(rule.startswith("lookahead") for rule in planned)
