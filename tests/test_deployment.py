"""How users deploy the workflow: their own config file, the workflow as a module."""

from __future__ import annotations

import shutil

import yaml

from workflow_helpers import REPO, copy_repository, snakemake, tiny_config


def _experiments_planned(output: str) -> set[str]:
    return {line.split("exp=", 1)[1].split(",")[0].strip() for line in output.splitlines() if "exp=" in line}


def test_a_user_config_runs_only_its_experiments_with_replace(tmp_path):
    workdir = copy_repository(tmp_path)
    shutil.copyfile(REPO / "config" / "config.yaml", workdir / "config" / "config.yaml")
    (workdir / "my.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))

    merged = snakemake(workdir, "--dry-run", "--configfile", str(workdir / "my.yaml"))
    assert _experiments_planned(merged.stdout) == {"default", "tiny"}
    assert "Also running experiments ['default'] of config/config.yaml" in merged.stderr
    assert "--replace-workflow-config" in merged.stderr

    replaced = snakemake(workdir, "--dry-run", "--configfile", str(workdir / "my.yaml"), "--replace-workflow-config")
    assert _experiments_planned(replaced.stdout) == {"tiny"}
    assert "Also running" not in replaced.stderr

    alone = snakemake(workdir, "--dry-run")
    assert _experiments_planned(alone.stdout) == {"default"}
    assert "Also running" not in alone.stderr
