"""The cost plan (python -m private_evolution.plan, snakemake --config plan=true): the calls, votes,
bytes and hours of a run from its config alone, checked against figures computed by hand and
against what the workflow plans and writes (the written files: tests/test_sharding.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from private_evolution.config import build_experiments, validate_with_schema
from private_evolution.plan import format_plan, load_rates, npz_bytes, plan_experiment
from workflow_helpers import REPO, copy_repository, planned_jobs, write_config


CIFAR10 = REPO / "config" / "cifar10_paper.yaml"  # the README's CIFAR-10 block (tests/test_paper_configs.py)


def readme_cifar10_config() -> dict:
    """The paper's CIFAR-10 setup as README.md shows it and config/cifar10_paper.yaml holds it."""
    return yaml.safe_load(CIFAR10.read_text())


def tiny_config() -> dict:
    return yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())


def experiment(config: dict, name: str):
    return build_experiments(validate_with_schema(config))[name]


@pytest.mark.parametrize("arrays", [
    {"images": ((3, 5, 5, 1), "u1"), "labels": ((3,), "<i8")},
    {"features": ((0, 0), "<f4"), "labels": ((0,), "<i8"), "computation": ((2,), "<U64")},
    {"noisy_counts": ((1000,), "<i8"), "weights": ((1000,), "<f8"), "labels": ((1000,), "<i8")},
    {"images": ((12, 32, 32, 3), "u1"), "labels": ((12,), "<i8"), "state__params": ((12, 16), "<f8")},
])
def test_npz_bytes_is_the_size_numpy_writes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.zeros(shape, dtype) for name, (shape, dtype) in arrays.items()})
    assert npz_bytes(arrays) == len(buffer.getvalue())


def test_the_tiny_config_by_hand():
    """.test's tiny config: N = 60, T = 2, epsilons 1 and inf, 300 private, 100 held out, effnet_lite0
    (the vote's space and the only evaluation space: every iteration is measured), 1 shard."""
    plan = plan_experiment(experiment(tiny_config(), "tiny"), load_rates())
    s = plan.summary
    assert s["calls"] == {"random_api": 60, "variation_api_per_iteration": 60, "variation_api": 60 * 2 * 2,
                          "lookahead_per_iteration": 0, "lookahead": 0}
    # private 300 + held out 100 + populations: iteration 0 once, then t = 1, 2 of each epsilon
    assert s["embeddings"] == {"effnet_lite0": 300 + 100 + 60 * (1 + 2 * 2)}
    assert s["votes"]["count"] == 4 and s["votes"]["dp_votes"] == 2 and s["votes"]["bins"] == 60
    assert s["votes"]["distance_terms_each"] == 300 * 60 * 1280 / 10
    from private_evolution.simulator import PARAMETERS

    population = 60 * 28 * 28 + 60 * 8 * 2 + 60 * len(PARAMETERS) * 8  # images, labels, font, parameters
    embedding = 60 * 1280 * 4 + 60 * 8
    per_iteration = population + embedding + 3 * 60 * 8 + 60 * 8  # + votes (3 arrays), selected
    row = s["per_iteration"][1]  # epsilon 1, t = 1
    assert (row["t"], row["run"]) == (1, "eps_1")
    assert 0 < row["disk"] - per_iteration < 10 * 300  # 10 arrays' .npy and zip headers
    # the reference's embeddings (under private/) also name their computation: a 64-character id
    assert 64 * 4 < s["disk"]["per_iteration_max"] - s["disk"]["per_iteration_min"] < 64 * 4 + 300
    assert 0 < s["disk"]["iteration_0"] - population - embedding < 6 * 300
    assert "lookahead" not in " ".join(s["stages"])
    text = format_plan(plan)
    assert "Experiment tiny: N = 60, T = 2" in text and "VARIATION_API               60" in text


def test_the_readme_cifar10_config_by_hand():
    """The paper's CIFAR-10 setup: N = 50,000, T = 20, L = 8, 4 epsilons, 100 DDIM steps, degrees
    0.98 -> 0.60 in steps of 0.02, Inception (2048-d), 8 shards, one GPU per network job."""
    exp = experiment(readme_cifar10_config(), "cifar10")
    assert exp.compute.shards == 8 and exp.pe.lookahead == 8 and exp.compute.gpus == 1
    plan = plan_experiment(exp, load_rates(overrides={"diffusion_unet": 900, "inception": 2000}))
    s, N, E = plan.summary, 50_000, 4
    assert s["calls"]["variation_api"] == N * 20 * E == 4_000_000
    assert s["calls"]["lookahead_per_iteration"] == 400_000
    assert s["calls"]["lookahead"] == 400_000 * (1 + E * 19) == 30_800_000  # iteration 0's lookahead is shared
    # steps per variation at the degree of iteration t: round(100 x (0.98 - 0.02 (t - 1))) = 100 - 2t
    assert s["variation_image_steps"] == E * N * sum(100 - 2 * t for t in range(1, 21)) == 316_000_000
    lookahead_steps = 400_000 * (98 + E * sum(100 - 2 * (t + 1) for t in range(1, 20)))
    assert s["lookahead_image_steps"] == lookahead_steps == 2_410_400_000
    assert s["random_image_steps"] == N * 100
    # the figure: one lookahead at degree 0.9 is 36 million image-steps, 11 hours at 900/s
    assert 400_000 * round(0.9 * 100) / 900 / 3600 == pytest.approx(11.1, abs=0.05)
    # private + held out + every lookahead variation + Inception FID populations (iterations 0 and T)
    assert s["embeddings"] == {"inception": N + 10_000 + 30_800_000 + N * (1 + E)}
    assert s["votes"]["count"] == 80 and s["votes"]["distance_terms_each"] == N * N * 2048 / 10
    # GPU-hours at 900 image-steps/s and 2,000 images/s
    stages = s["stages"]
    assert stages["lookahead: VARIATION_API"]["gpu_hours"] == pytest.approx(2_410_400_000 / 900 / 3600)
    assert stages["VARIATION_API"]["gpu_hours"] == pytest.approx(316_000_000 / 900 / 3600)
    assert stages["lookahead: embedding"]["gpu_hours"] == pytest.approx(30_800_000 / 2000 / 3600)
    assert stages["vote"]["device"] == "cpu" and stages["vote"]["gpu_hours"] == 0
    # one population (images, labels, model classes) and one mean-embedding file, each also in shards
    population = N * 32 * 32 * 3 + 2 * N * 8
    lookahead = N * 2048 * 4 + N * 8
    files = {path: size for path, size in plan.files.items() if "/eps_1/iter_5/" in path}
    assert abs(files["results/cifar10/eps_1/iter_5/population.npz"] - population) < 1024
    assert abs(files["results/cifar10/eps_1/iter_5/lookahead_inception.npz"] - lookahead) < 1024
    assert sum(1 for path in files if "/shards/lookahead_" in path) == 8
    assert abs(s["disk"]["per_iteration_max"] - 2 * (population + lookahead)) < 10e6  # + votes, selection, counts
    # wall time: the larger of one epsilon's chain and the work over 8 GPUs
    work = sum(entry["job_hours"] for entry in stages.values()) * 3600
    assert s["time"]["total_job_s"] == pytest.approx(work)
    assert s["time"]["wall_s"] == pytest.approx(max(s["time"]["chain_s"], work / 8))
    assert s["time"]["wall_s"] / 3600 == pytest.approx(work / 8 / 3600)  # 4 epsilons keep 8 GPUs busy
    # the lookahead's largest shard: chunks of 500 candidates (8 x 500 variations fill Inception's batch
    # of 256), 100 chunks over 8 shards: 13 chunks, 6,500 candidates
    t5 = [w for w in plan.work if w.stage == "lookahead: VARIATION_API" and w.run == "eps_1" and w.iteration == 5]
    assert t5[0].largest == 8 * 6500 * (100 - 2 * 6)


def test_without_a_figure_a_stage_has_no_hours_and_the_plan_says_which(tmp_path):
    exp = experiment(readme_cifar10_config(), "cifar10")
    plan = plan_experiment(exp, load_rates(path=None))
    assert "diffusion_unet on gpu" in plan.missing and "inception on gpu" in plan.missing
    assert plan.summary["stages"]["VARIATION_API"]["job_hours"] is None
    assert "no figure for" in format_plan(plan)


def test_the_command_line_and_the_workflow_print_the_plan(tmp_path):
    command = [sys.executable, "-m", "private_evolution.plan", "--configfile", str(CIFAR10), "--replace-workflow-config"]
    result = subprocess.run([*command, "--json", "--rate", "inception=2000"], capture_output=True, text=True, cwd=REPO, check=True)
    (plan,) = json.loads(result.stdout)
    assert plan["name"] == "cifar10" and plan["calls"]["lookahead"] == 30_800_000 and not plan["missing"]
    text = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "lookahead VARIATION_API     400,000" in text
    # benchmarks/throughput.yaml's figures for this config are measured ones, each with its source
    assert "NOT MEASURED" not in text and "rate diffusion_unet on gpu: 1,157;" in text and "GPU_DIFFUSERS.md" in text
    # a figure marked measured: false is printed as an orientation figure
    table = tmp_path / "throughput.yaml"
    table.write_text("apis: {diffusion_unet: {gpu: {image_steps_per_s: 900, measured: false, source: a guess}}}\n")
    text = subprocess.run([*command, "--throughput", str(table)], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "rate diffusion_unet on gpu: 900 (NOT MEASURED: an orientation figure); a guess" in text
    # without --replace-workflow-config the default experiment is planned too, as snakemake would run it
    both = subprocess.run(command[:-1], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert "Experiment default:" in both and "Experiment cifar10:" in both
    # the workflow: plan=true prints the same plan and schedules no job
    workdir = copy_repository(tmp_path / "repo")
    write_config(workdir, tiny_config())
    from workflow_helpers import snakemake

    dry = snakemake(workdir, "--dry-run", "--config", "plan=true")
    assert "Experiment tiny: N = 60, T = 2" in dry.stdout
    assert planned_jobs(workdir, "--config", "plan=true") == {"all": 1}


def test_the_readme_cifar10_dry_run_shards_the_lookahead(tmp_path):
    """The issue's setup: 77 lookahead jobs (iteration 0 once, t = 1..19 of 4 epsilons), now each the
    gathering job of 8 shard jobs that ask for a GPU."""
    workdir = copy_repository(tmp_path)
    write_config(workdir, readme_cifar10_config())
    jobs = planned_jobs(workdir, "--cores", "8")
    assert jobs["lookahead"] == 1 + 4 * 19 == 77
    assert jobs["lookahead_shard"] == 8 * 77
    assert jobs["vary_shard"] == 8 * 20 * 4 and jobs["vote_shard"] == 8 * 20 * 4
    # the plan's job counts of the sharded network stages agree with the workflow's
    plan = plan_experiment(experiment(readme_cifar10_config(), "cifar10"), load_rates(path=None))
    assert plan.summary["stages"]["lookahead: VARIATION_API"]["jobs"] == jobs["lookahead_shard"]
    assert plan.summary["stages"]["VARIATION_API"]["jobs"] == jobs["vary_shard"]
    assert plan.summary["stages"]["vote"]["jobs"] == jobs["vote_shard"]
