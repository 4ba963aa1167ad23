"""The tiny workflow submitted to a real (single-node) SLURM cluster through workflow/profiles/slurm.

The cluster comes from Debian's packages (tests/slurm/cluster.sh): started here when
it is not running and this is root, and stopped again (by pid) at the end. Without
SLURM the test is skipped, unless PE_REQUIRE_SLURM=1 (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from private_evolution.io import load_npz
from workflow_helpers import REPO, copy_repository, planned_jobs, share_noise_seed, snakemake, write_config

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
GPU_RULES = {"embed_shard", "embed_real_shard"}  # with compute.gpus: 1 and 2 shards, the jobs that run a network


def cluster_is_up() -> bool:
    if not shutil.which("sinfo"):
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return result.returncode == 0 and "idle" in result.stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    started = False
    if not cluster_is_up():
        if os.geteuid() != 0:
            if os.environ.get("PE_REQUIRE_SLURM") == "1":
                pytest.fail("PE_REQUIRE_SLURM=1 but no SLURM cluster is running and this is not root")
            pytest.skip("no SLURM cluster: run tests/slurm/cluster.sh start as root")
        result = subprocess.run(["bash", str(CLUSTER), "start"], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            # a half-started cluster (munged up, slurm.conf written) must not outlive the test
            subprocess.run(["bash", str(CLUSTER), "stop"], check=False)
            message = f"could not start SLURM:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
            if os.environ.get("PE_REQUIRE_SLURM") == "1":
                pytest.fail(message)
            pytest.skip(message)
        started = True
    yield
    if started:
        subprocess.run(["bash", str(CLUSTER), "stop"], check=False)
        # a leftover config pointing at the stopped controller would make every later
        # snakemake command wait ~9 s (the executor plugin runs 'scontrol show config')
        conf = Path("/etc/slurm/slurm.conf")
        assert not (conf.exists() and "ClusterName=pe-test" in conf.read_text())


def slurm_test_config() -> dict:
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    tiny = config["experiments"]["tiny"]
    tiny["pe"]["iterations"] = 1
    tiny["privacy"]["epsilons"] = [1]
    tiny["evaluation"] = {"accuracy": {"enabled": False}}
    tiny["compute"] = {"shards": 2, "gpus": 1}
    return config


def write_test_profile(workdir) -> str:
    """The repository's SLURM profile with this cluster's values where it has placeholders."""
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["default-resources"]["slurm_account"] == "CHANGE_ME"
    profile["default-resources"].update(slurm_partition="debug", runtime=10, mem_mb=1500, cpus_per_task=1)
    del profile["default-resources"]["slurm_account"]
    profile["slurm-no-account"] = True  # no slurmdbd here, so no accounts
    profile["slurm-status-command"] = "squeue"
    profile["slurm-init-seconds-before-status-checks"] = 1  # the default waits 40 s before the first poll
    profile["jobs"] = 4
    folder = workdir / "slurm_profile"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return str(folder)


def slurm_jobs_after(first_id: int) -> list[dict]:
    """Jobs with an id above ``first_id``: id, comment (the executor writes the rule there), state, GPUs asked."""
    widths = (("id", 16), ("state", 16), ("gpus", 32), ("comment", 300))
    fields = ",".join(f"{name}:{width}" for name, width in zip(("JobID", "State", "tres-per-job", "Comment"), (w for _, w in widths)))
    rows = subprocess.run(["squeue", "-h", "-t", "all", "-O", fields], capture_output=True, text=True, check=True).stdout
    jobs = []
    for line in rows.splitlines():
        job, begin = {}, 0
        for name, width in widths:
            job[name] = line[begin : begin + width].strip()
            begin += width
        if job["id"].isdigit() and int(job["id"]) > first_id:
            jobs.append(job)
    return jobs


def test_workflow_through_slurm_matches_a_local_run(slurm_cluster, tmp_path):
    local = copy_repository(tmp_path / "local")
    cluster = copy_repository(tmp_path / "cluster")
    for workdir in (local, cluster):
        write_config(workdir, slurm_test_config())
    share_noise_seed(local, cluster)  # the same secret seed: the two runs draw the same noise
    expected = planned_jobs(cluster, "--cores", "2")
    expected_remote = sum(count for rule, count in expected.items() if rule != "all")  # 'all' is a local rule

    ids = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    last_id = max([int(i) for i in ids if i.isdigit()], default=0)
    started = time.perf_counter()
    run = snakemake(cluster, "--workflow-profile", write_test_profile(cluster))
    seconds = time.perf_counter() - started
    jobs = slurm_jobs_after(last_id)
    print(f"SLURM run: {len(jobs)} jobs in {seconds:.0f} s")

    assert len(jobs) == expected_remote, run.stderr[-3000:]
    assert all(job["state"] == "COMPLETED" for job in jobs)
    rules = [job["comment"].split("_wildcards")[0].removeprefix("rule_") for job in jobs]
    assert sorted(set(rules)) == sorted(rule for rule in expected if rule != "all")
    for rule, job in zip(rules, jobs):
        asks_gpu = "gpu" in job["gpus"]  # --gpus=1 shows as tres-per-job gres:gpu:1
        assert asks_gpu == (rule in GPU_RULES), f"{rule}: tres-per-job {job['gpus']!r}"

    snakemake(local, "--cores", "2")
    for name in ("shared/iter_0/population.npz", "eps_1/iter_1/votes.npz", "eps_1/iter_1/population.npz"):
        on_cluster, here = load_npz(cluster / "results/tiny" / name), load_npz(local / "results/tiny" / name)
        for key in here:
            assert np.array_equal(on_cluster[key], here[key]), f"{name}:{key}"
    assert (cluster / "results/tiny/plots/fid_vs_epsilon.png").stat().st_size > 0
