"""Every output labelled DP is DP: secret noise seed, noise streams per experiment and draw,
the epsilon = inf reference kept private, the cumulative ledger, private logs, checked weights,
and clean-up of half-written files when a job is killed."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from private_evolution import PEError
from private_evolution.io import load_npz, read_json, save_embeddings
from private_evolution.noise import draw_digest, noise_generator, read_draws, secret_seed
from private_evolution.stages.calibrate import calibrate
from private_evolution.stages.vote import clean_counts, vote
from workflow_helpers import REPO, snakemake, tiny_config, write_config

EXP = "tiny"


def public_files(workdir: Path) -> list[Path]:
    """Everything a run leaves outside results/*/private/ (its outputs, logs, Snakemake's metadata)."""
    files = [p for p in (workdir / "results").rglob("*") if p.is_file() and "private" not in p.relative_to(workdir / "results").parts]
    return files + [p for p in (workdir / ".snakemake").rglob("*") if p.is_file()]


def test_default_run_publishes_no_usable_seed(finished_run):
    exp = finished_run / "results" / EXP
    seed = secret_seed(exp / "private")
    assert seed >= 2**64 or seed > 10**6  # 128 random bits, not a small configured number
    assert oct((exp / "private" / "noise_seed.json").stat().st_mode & 0o777) == "0o600"
    for path in public_files(finished_run):
        assert str(seed) not in path.read_text(errors="replace"), f"the secret seed appears in {path}"
    for name in ("privacy_ledger.csv", "privacy_draws.csv"):
        table = pd.read_csv(exp / name)
        assert "public_seed" not in table.columns and "digest" not in table.columns
    ledger = pd.read_csv(exp / "privacy_ledger.csv")
    assert ledger.noise_seed.str.startswith("secret").all()
    assert ledger.set_index("epsilon").dp.to_dict() == {1.0: "yes", math.inf: "no: epsilon = inf (no noise, a non-private reference)"}

    # The noise is exactly the secret stream's draw, and the old public default (seed 0) does not remove it.
    privacy = read_json(exp / "eps_1/privacy.json")
    counts, labels = clean_counts(
        str(exp / "private/private_embed_effnet_lite0.npz"), str(exp / "shared/iter_0/embed_effnet_lite0.npz"), 1, "numpy"
    )
    noisy = load_npz(exp / "eps_1/iter_1/votes.npz")["noisy_counts"]
    digest = draw_digest(counts, labels, privacy["sigma"])
    secret = noise_generator(seed, EXP, 1.0, 1, digest).normal(0.0, privacy["sigma"], len(counts))
    assert np.allclose(noisy - counts, secret, atol=1e-9)
    guessed = noise_generator(0, EXP, 1.0, 1, digest).normal(0.0, privacy["sigma"], len(counts))
    assert not np.allclose(noisy - counts, guessed, atol=1.0)


def test_epsilon_inf_counts_stay_private_and_its_chain_is_labelled(finished_run):
    exp = finished_run / "results" / EXP
    assert not list((exp / "eps_inf").rglob("votes.npz"))
    assert sorted(p.relative_to(exp).as_posix() for p in exp.rglob("votes.npz") if "eps_inf" in p.as_posix()) == [
        "private/eps_inf/iter_1/votes.npz", "private/eps_inf/iter_2/votes.npz",
    ]
    assert read_json(exp / "eps_inf/privacy.json")["dp"].startswith("no: epsilon = inf")
    spend = read_json(exp / "privacy_spend.json")
    assert spend["dp_draws"] == 2 and spend["runs_with_draws"] == ["1"]
    assert spend["non_dp_draws"] == {"no: epsilon = inf (no noise, a non-private reference)": 2}
    assert spend["composed_epsilon"] == pytest.approx(1.0, abs=0.01)  # the sweep's one DP run, T votes


def write_privacy(path: Path, seed_mode: str = "public", epsilon: float = 1.0) -> None:
    calibrate(
        {"delta": 1e-5, "adjacency": "add_remove", "seed_mode": seed_mode, "seed": 3},
        epsilon, 2, 1, {"votes": 0.0, "sigmas": 0.0}, str(path),
    )


@pytest.fixture
def embeddings(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    save_embeddings(tmp_path / "private_embed.npz", rng.normal(size=(100, 8)).astype(np.float32), labels)
    save_embeddings(tmp_path / "population.npz", rng.normal(size=(20, 8)).astype(np.float32), np.repeat([0, 1], 10))
    save_embeddings(tmp_path / "other_population.npz", rng.normal(size=(20, 8)).astype(np.float32), np.repeat([0, 1], 10))
    write_privacy(tmp_path / "privacy_public.json", "public")
    write_privacy(tmp_path / "privacy_secret.json", "secret")
    return tmp_path


def run_vote(folder: Path, experiment: str, population: str = "population.npz", privacy: str = "privacy_public.json", name: str = "a"):
    private_dir = folder / experiment / "private"
    output = folder / experiment / f"votes_{name}.npz"
    vote(
        str(folder / "private_embed.npz"), str(folder / population), str(folder / privacy), experiment, 1,
        str(private_dir), str(output), str(private_dir / f"draw_{name}.json"),
    )
    counts, _ = clean_counts(str(folder / "private_embed.npz"), str(folder / population), 1, "numpy")
    return load_npz(output)["noisy_counts"] - counts


def test_two_experiments_never_share_noise(embeddings):
    """Same data, same public seed, two experiment names (a k = 1 vs k = 3 ablation, say): independent noise."""
    noise_a, noise_b = run_vote(embeddings, "ablation_a"), run_vote(embeddings, "ablation_b")
    assert not np.allclose(noise_a, noise_b)
    assert abs(np.corrcoef(noise_a, noise_b)[0, 1]) < 0.6


def test_same_counts_reuse_the_noise_and_other_counts_draw_afresh(embeddings):
    first = run_vote(embeddings, "x", name="first")
    resumed = run_vote(embeddings, "x", name="resumed")
    assert np.array_equal(first, resumed)  # a resume after a crash: the same draw, nothing new released
    other = run_vote(embeddings, "x", population="other_population.npz", name="other")
    assert not np.allclose(first, other)  # the same noise on other counts would publish their difference
    draws = read_draws(embeddings / "x" / "private")
    assert len(draws) == 2 and len({d["digest"] for d in draws}) == 2
    assert all(d["seed_mode"] == "public" and d["dp"].startswith("no: noise seed is public") for d in draws)


def test_secret_seed_is_created_once_and_shared_by_every_vote(embeddings):
    run_vote(embeddings, "s", privacy="privacy_secret.json", name="one")
    seed_file = embeddings / "s" / "private" / "noise_seed.json"
    before = seed_file.read_text()
    run_vote(embeddings, "s", privacy="privacy_secret.json", population="other_population.npz", name="two")
    assert seed_file.read_text() == before
    assert read_json(embeddings / "privacy_secret.json")["noise_seed"].startswith("secret")


def test_seed_creation_races_end_with_one_seed(tmp_path):
    """Parallel votes of one experiment (local cores or cluster nodes) all get the same seed."""
    code = "import sys; from private_evolution.noise import secret_seed; print(secret_seed(sys.argv[1]))"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    processes = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "private")], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(6)
    ]
    seeds = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert len(seeds) == 1 and int(seeds.pop()) == secret_seed(tmp_path / "private")
    assert [p.name for p in (tmp_path / "private").iterdir()] == ["noise_seed.json"]  # no temporary file left


def test_a_released_vote_is_never_redrawn(embeddings):
    from private_evolution.noise import mark_released

    run_vote(embeddings, "r", name="released")
    draw = read_json(embeddings / "r" / "private" / "draw_released.json")
    mark_released(embeddings / "r" / "private", {"1": {1: draw["digest"]}})
    run_vote(embeddings, "r", name="resumed")  # identical counts: the same noise, allowed
    with pytest.raises(PEError, match="already released .* second release of the private data"):
        run_vote(embeddings, "r", population="other_population.npz", name="changed")
    assert not (embeddings / "r" / "votes_changed.npz").exists()
    assert len(read_draws(embeddings / "r" / "private")) == 1


def test_rerun_with_new_counts_is_counted_and_a_released_vote_refuses(finished_run, tmp_path):
    """End to end: a rerun that draws new noise adds to the cumulative ledger and the total spend;
    once released, a change that would redraw a vote stops with the reason, losing nothing."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished_run, workdir, symlinks=True)
    exp = workdir / "results" / EXP
    config = tiny_config()
    config["experiments"][EXP]["release"] = {"enabled": True, "epsilons": [1]}
    write_config(workdir, config)
    run = snakemake(workdir, "--cores", "2", "--forcerun", "vote")  # identical inputs: the same draws
    output = run.stdout + run.stderr
    assert "reads private data: its messages are in results/tiny/private/logs/vote/" in output
    assert "candidates above threshold" not in output  # the vote's own messages stay in its private log
    assert (exp / "release" / "eps_1" / "synthetic.npz").is_file() and not (exp / "release" / "eps_inf").exists()
    spend = read_json(exp / "privacy_spend.json")
    assert spend["dp_draws"] == 2
    assert read_json(exp / "release" / "PRIVACY.json")["composed_epsilon"] == pytest.approx(1.0, abs=0.01)

    # A new embedder resolution changes every vote's counts: after a release, that must not pass silently.
    config["experiments"][EXP]["embedder"]["resolution"] = 40
    write_config(workdir, config)
    released = load_npz(exp / "eps_1/iter_1/votes.npz")
    refused = snakemake(workdir, "--cores", "2", check=False)
    assert refused.returncode != 0
    log = (exp / "private/logs/vote/eps_1_iter_1.log").read_text()
    assert "already released" in log and "second release" in log
    assert "failed: the reason is in results/tiny/private/logs/vote/eps_1_iter_1.log (private)" in refused.stderr
    assert (exp / "release" / "eps_1" / "synthetic.npz").is_file()
    # Without a release, the same change is allowed and counted: 2 more draws for epsilon = 1.
    (exp / "private" / "ledger" / "released.json").unlink()
    config["experiments"][EXP]["release"] = {"enabled": False}
    write_config(workdir, config)
    snakemake(workdir, "--cores", "2")
    assert not np.array_equal(load_npz(exp / "eps_1/iter_1/votes.npz")["noisy_counts"], released["noisy_counts"])
    draws = pd.read_csv(exp / "privacy_draws.csv")
    assert len(draws[draws.dp == "yes"]) == 4 and "digest" not in draws.columns
    assert pd.read_csv(exp / "privacy_ledger.csv").set_index("epsilon").draws[1.0] == 4
    spend = read_json(exp / "privacy_spend.json")
    assert spend["dp_draws"] == 4 and spend["composed_epsilon"] > 1.3  # two runs' worth of votes on the same data


def test_private_jobs_log_under_private(finished_run):
    exp = finished_run / "results" / EXP
    public_logs = {p.relative_to(exp / "logs").as_posix() for p in (exp / "logs").rglob("*.log")}
    assert not [name for name in public_logs if name.startswith(("vote", "prepare_private", "embed_real"))]
    assert "evaluate_accuracy/ceiling.log" not in public_logs
    private_logs = {p.relative_to(exp / "private" / "logs").as_posix() for p in (exp / "private" / "logs").rglob("*.log")}
    assert {"prepare_private.log", "vote/eps_1_iter_1.log", "vote/eps_inf_iter_1.log", "evaluate_accuracy/ceiling.log"} <= private_logs
    assert "candidates above threshold" in (exp / "private/logs/vote/eps_1_iter_1.log").read_text()


def test_private_job_errors_print_only_where_to_look(tmp_path, capfd):
    from private_evolution.logs import stage_logging

    log = tmp_path / "results" / "x" / "private" / "logs" / "vote.log"
    with pytest.raises(SystemExit):
        with stage_logging(str(log), "vote"):
            raise ValueError("class 7 has 3 private samples")  # a message quoting private facts
    err = capfd.readouterr().err
    assert "class 7" not in err and f"traceback is in {log} (private)" in err
    assert "class 7 has 3 private samples" in log.read_text()


def test_inception_weights_are_checked_before_use(tmp_path):
    from private_evolution.inception import WEIGHTS_FILE, ensure_weights, user_cache
    from private_evolution.io import file_sha256
    from workflow_helpers import save_fake_inception

    path = save_fake_inception(tmp_path / "weights")
    digest = file_sha256(path)
    assert ensure_weights(tmp_path / "weights", digest) == path
    with pytest.raises(PEError, match=f"has sha256 {digest}, but .* says {'0' * 64}: the file was changed"):
        ensure_weights(tmp_path / "weights", "0" * 64)
    # the digest recorded at download time guards a cached file that nobody configured a digest for
    (tmp_path / "weights" / (WEIGHTS_FILE + ".sha256")).write_text(f"{digest}  {WEIGHTS_FILE}\n")
    assert ensure_weights(tmp_path / "weights") == path
    path.write_bytes(path.read_bytes() + b"planted")
    with pytest.raises(PEError, match="written at download"):
        ensure_weights(tmp_path / "weights")
    assert not str(user_cache()).startswith("/tmp")


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from private_evolution import io
    from private_evolution.logs import stage_logging

    def slow_savez(handle, **arrays):
        handle.write(b"partial")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

    np.savez = slow_savez
    with stage_logging(sys.argv[2], "writer"):
        io.save_npz(sys.argv[1], values=np.arange(3))
    """
)


def test_a_job_killed_mid_write_leaves_no_temporary_file(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    target = tmp_path / "out" / "votes.npz"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    process = subprocess.Popen(
        [sys.executable, str(script), str(target), str(tmp_path / "writer.log")], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout.readline().strip() == "writing"
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".votes.npz.")]  # the temporary file exists
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(target.parent.iterdir()) == []  # no half-written output, no temporary file


def test_no_preloaded_module_starts_a_thread_before_fork():
    """The warm worker forks after importing these: a thread (or a CUDA context) alive at fork breaks children."""
    from private_evolution.warm import PRELOAD

    code = textwrap.dedent(
        f"""
        import importlib, os, threading
        for name in {list(PRELOAD)!r}:
            importlib.import_module(name)
        print(threading.active_count(), len(os.listdir("/proc/self/task")))
        import torch
        print(torch.cuda.is_initialized())
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split("\n")
    python_threads, os_threads = map(int, lines[0].split())
    assert python_threads == 1 and os_threads == 1, lines
    assert lines[1] == "False"


def test_warm_children_do_not_share_the_legacy_random_state(tmp_path, monkeypatch):
    from private_evolution import warm

    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    socket_path = warm.start(preload=("numpy",))
    try:
        deadline = time.time() + 60
        while not os.path.exists(socket_path):
            assert time.time() < deadline
            time.sleep(0.05)
        script = tmp_path / "draw.py"
        script.write_text(
            "import sys\nfrom private_evolution.warm import hand_over\nhand_over([sys.argv[1]])\n"
            "import numpy as np, random\nprint(np.random.randint(1 << 30), random.random(), flush=True)\n"
        )
        env = dict(os.environ)
        draws = [
            subprocess.run([sys.executable, str(script), str(tmp_path / f"log{i}")], capture_output=True, text=True, env=env, check=True).stdout
            for i in range(3)
        ]
        logs = "".join((tmp_path / f"log{i}").read_text() for i in range(3))
    finally:
        warm.stop()
    assert logs.count("ran in a child of the warm worker") == 3
    assert len(set(draws)) == 3, draws
