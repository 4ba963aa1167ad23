"""Every Snakemake job is a plain job in a fresh Python process: its benchmark file measures it,
and the light stages import only what they use (their fixed cost per job; benchmarks/JOBS.md)."""

from __future__ import annotations

import ast
import csv
import json
import math
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "src" / "scripts"

# Modules that cost a job from 0.3 s (pandas) to 2.5 s (torch) to import.
HEAVY = ("torch", "pandas", "matplotlib", "diffusers", "scipy", "dp_accounting", "PIL", "sklearn", "transformers")

# The light stages' scripts: importing one (its imports and, through them, the library modules
# it runs) loads none of HEAVY. A stage that needs one imports it inside the function that uses it.
LIGHT_SCRIPTS = ("select", "vote", "calibrate", "evaluate", "release", "data_ledger", "privacy_ledger", "collect_metrics")


def top_level_imports(source: str) -> str:
    """The import statements of a script's module level, as source (what a job runs first)."""
    tree = ast.parse(source)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def heavy_modules_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter holds after running ``code`` (the library on its path)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("stage", LIGHT_SCRIPTS)
def test_light_stage_scripts_import_no_heavy_module(stage):
    imports = top_level_imports((SCRIPTS / f"{stage}.py").read_text())
    assert "private_evolution" in imports
    assert heavy_modules_after(imports) == [], f"src/scripts/{stage}.py imports a heavy module at its start"


def test_the_import_check_sees_a_heavy_import_added_to_a_script():
    """The check above runs the script's own import lines: one more at the top is seen."""
    source = "import torch\n" + (SCRIPTS / "select.py").read_text()
    assert heavy_modules_after(top_level_imports(source)) == ["torch"]


# What each light stage's function loads while it runs (lazy imports included), on tiny inputs;
# the accountant (dp_accounting, scipy) is used by calibrate; the vote records its draw and leaves
# the spend's composition to the ledger jobs, so it loads none of HEAVY.
RUN_STAGE = textwrap.dedent(
    """
    import sys
    stage, folder = sys.argv[1], sys.argv[2]
    if stage == "select":
        from private_evolution.stages.select import select
        select(f"{folder}/votes.npz", 1, 1.0, 0, f"{folder}/selected.npz")
    elif stage == "vote":
        from private_evolution.stages.vote import vote
        vote(
            f"{folder}/private_embed.npz", f"{folder}/population.npz", f"{folder}/privacy.json", "x", 1,
            f"{folder}/ledger/private", f"{folder}/preparation.json", "code", f"{folder}/votes_out.npz",
            f"{folder}/private/draw.json",
        )
    elif stage == "calibrate":
        from private_evolution.stages.calibrate import calibrate
        calibrate({"delta": 1e-5, "adjacency": "add_remove", "seed_mode": "secret", "seed": 0}, 2.0, 3, 1,
                  {"votes": 0, "sigmas": 0}, f"{folder}/privacy_2.json", bins=5)
    elif stage == "evaluate_classifier":
        from private_evolution.stages.evaluate import evaluate_images
        evaluate_images(
            f"{folder}/population_images.npz", f"{folder}/heldout_classifier.npz",
            {"name": "classifier", "weights": f"{folder}/feature_classifier.npz"}, f"{folder}/metrics.json",
            ("frechet_distance", "precision_recall"), {"k_nearest": 3}, threads=1,
        )
    """
)
# evaluate_classifier: a population embedded in the validation CNN's space, as the evaluate job of
# that space does for each population (the CNN's forward pass in numpy: cnn_features).
ALLOWED_WHILE_RUNNING = {"select": (), "vote": (), "calibrate": ("dp_accounting", "scipy"), "evaluate_classifier": ()}


@pytest.fixture(scope="module")
def stage_inputs(tmp_path_factory):
    from private_evolution.classifier import save_feature_classifier
    from private_evolution.io import save_embeddings, save_images, save_votes, write_json
    from private_evolution.stages.calibrate import calibrate

    folder = tmp_path_factory.mktemp("stage_inputs")
    rng = np.random.default_rng(0)
    save_embeddings(folder / "private_embed.npz", rng.normal(size=(30, 4)).astype(np.float32), np.repeat([0, 1], 15))
    save_embeddings(folder / "population.npz", rng.normal(size=(10, 4)).astype(np.float32), np.repeat([0, 1], 5))
    save_votes(folder / "votes.npz", np.arange(10), np.arange(10, dtype=float), np.repeat([0, 1], 5))
    calibrate({"delta": 1e-5, "adjacency": "add_remove", "seed_mode": "secret", "seed": 0}, 1.0, 1, 1,
              {"votes": 0, "sigmas": 0}, str(folder / "privacy.json"), bins=5)
    write_json(folder / "preparation.json", {"preparation_id": "x#1", "random": "0" * 32})
    save_images(folder / "population_images.npz", rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8), np.repeat([0, 1], 10))
    save_embeddings(folder / "heldout_classifier.npz", rng.random((20, 128), dtype=np.float32), np.repeat([0, 1], 10))
    save_feature_classifier(str(folder / "feature_classifier.npz"), rng.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8),
                            np.repeat([0, 1], 4), 2, epochs=1, seed=0)
    return folder


@pytest.mark.parametrize("stage", sorted(ALLOWED_WHILE_RUNNING))
def test_light_stages_load_only_what_they_use_while_running(stage, stage_inputs):
    code = f"import sys\nsys.argv = ['run', {stage!r}, {str(stage_inputs)!r}]\n{RUN_STAGE}"
    loaded = heavy_modules_after(code)
    assert set(loaded) <= set(ALLOWED_WHILE_RUNNING[stage]), f"the {stage} stage loaded {loaded}"


# Snakemake's benchmark columns (s: wall time in seconds, max_rss: peak resident memory in MB).
BENCHMARK_COLUMNS = {"s", "h:m:s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out", "mean_load", "cpu_time"}


def benchmark_row(path: Path) -> dict:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 1 and BENCHMARK_COLUMNS <= set(rows[0]), (path, rows)
    return rows[0]


def test_every_job_of_a_run_measured_itself_in_its_benchmark_file(finished_run):
    """Each job log of the tiny run has its benchmark file (contract.benchmark_of_log), written by
    Snakemake around the job's own process: a wall time, and the CPU time and peak memory of a
    Python process that imported numpy (tens of MB), not of a process that only waited for
    another. Snakemake samples a job every 0.5 s: a job of under a second may be seen only as
    it starts, so memory and CPU are checked on the jobs that ran long enough to be seen."""
    from private_evolution.contract import benchmark_of_log

    results = finished_run / "results"
    logs = sorted(results.glob("tiny/**/logs/**/*.log")) + sorted(results.glob("_ledger/*/logs/*.log"))
    memory: dict[str, list[float]] = {}
    for log in logs:
        benchmark = benchmark_of_log(str(log))
        assert benchmark is not None and Path(benchmark).is_file(), log
        row = benchmark_row(Path(benchmark))
        seconds, max_rss, cpu_time = float(row["s"]), float(row["max_rss"]), float(row["cpu_time"])
        assert 0 < seconds < 600 and max_rss >= 0 and cpu_time >= 0, (benchmark, row)
        if seconds >= 2:
            assert max_rss > 30 and cpu_time > 0, (benchmark, row)
        parts = Path(benchmark).relative_to(results).parts
        memory.setdefault(parts[parts.index("benchmarks") + 1].removesuffix(".tsv"), []).append(max_rss)
    assert len(logs) >= 20
    assert {"select", "vote", "calibrate", "embed", "vary", "evaluate"} <= set(memory), sorted(memory)
    # importing torch alone takes ~220 MB: select and vote stay far below it
    assert max(memory["select"]) < 150 and max(memory["vote"]) < 250, memory


# --- how a job is given its files and params (private_evolution/job.py) ---

DUMP_JOB = """
import pickle
from private_evolution.job import stage_job

job = stage_job()
seen = {
    "params": vars(job.params), "input": list(job.input), "votes": job.input.votes, "shards": list(job.input.shards),
    "has_shards": "shards" in job.input.keys(), "private": job.input.get("private"), "draw": job.output.draw,
    "output_votes": job.output["votes"], "exp": job.wildcards.exp, "t": job.wildcards.t, "log": job.log[0],
    "threads": job.threads, "label": job.label("vote", "t=2"),
}
with open(job.output[0], "wb") as handle:
    pickle.dump(seen, handle)
"""


def run_stage_command(tmp_path: Path, params: dict, monkeypatch) -> tuple[str, Path]:
    """job.stage_command for these params, run by Snakemake's own ``shell()`` as a job's shell
    command is (formatted with Snakemake's Namedlists of files, log and params, by bash, a long
    command from a file); its script pickles what stage_job() read to the job's first output.
    Returns the job's standard error and that output's path."""
    from snakemake.iocontainers import Namedlist
    from snakemake.shell import shell

    from private_evolution.job import JobFiles, stage_command

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))
    script = tmp_path / "dump {job}.py"  # a space and braces in the path: quoted, not formatted
    script.write_text(DUMP_JOB)
    seen = tmp_path / "seen.pkl"
    wildcards = Namedlist(fromdict={"exp": "tiny", "t": "2"})
    files = Namedlist(fromdict={"votes": "results/a votes.npz", "shards": ["s0.npz", "s1.npz"]})
    output = Namedlist(fromdict={"votes": str(seen), "draw": "draw.json"})
    job_params = Namedlist(fromdict={"job_files": JobFiles(wildcards, files, output), **params})
    log = Namedlist(["logs/it's.log"])
    errors = tmp_path / "stderr.txt"
    shell.executable("bash")
    command = stage_command(sys.executable, str(script), list(params)) + f" 2> {shlex.quote(str(errors))}"
    try:
        shell(command, params=job_params, log=log, threads=3)
    except subprocess.CalledProcessError:  # the refusals' case: the message is in errors
        pass
    return errors.read_text(), seen


def test_a_job_receives_every_value_of_its_params_as_the_rule_gave_them(tmp_path, monkeypatch):
    """Through a real shell command and back: a JobOptions param arrives with the run settings its
    printed form (the rerun key) leaves out; strings stay strings (even "1" or "None"), and
    tuples, None, infinities and nested containers keep their type. A list of 200 KiB (more than
    one command-line argument may hold) arrives too: the values travel on standard input."""
    import pickle

    from private_evolution.config import JobOptions

    options = JobOptions({"name": "pixels", "batch_size": 64, "device": "cpu", "scale": 1.0}, ignore=("scale",))
    params = {
        "embedder": options, "plain": {"a": [1, 2.5, None]}, "shard": (0, 2), "none": None, "epsilon": float("inf"),
        "minus": -0.5, "digits": "1", "word": "None", "empty": "", "quote": "it's \"x\" {y} $HOME `id`\nnext",
        "entries": [{"epsilon": float("-inf"), "path": f"results/eps_1/iter_{t}/metrics.json"} for t in range(3000)],
        "flag": True,
    }
    assert "batch_size" not in repr(options)  # the rerun key
    errors, seen = run_stage_command(tmp_path, params, monkeypatch)
    assert seen.exists(), errors[-3000:]
    with open(seen, "rb") as handle:
        job = pickle.load(handle)
    for name, value in params.items():
        received = job["params"][name]
        assert received == value and type(received) is (dict if isinstance(value, dict) else type(value)), name
    assert len(repr(params["entries"])) > 128 * 1024
    assert job["params"]["embedder"]["batch_size"] == 64 and job["params"]["embedder"]["device"] == "cpu"
    assert job["input"][0] == job["votes"] == "results/a votes.npz"
    assert job["shards"] == ["s0.npz", "s1.npz"] and job["has_shards"] and job["private"] is None
    assert (job["draw"], job["output_votes"]) == ("draw.json", str(seen))
    assert (job["exp"], job["t"], job["log"], job["threads"]) == ("tiny", "2", "logs/it's.log", 3)
    assert job["label"] == "vote t=2 shard 1/2"  # the job's name in its log lines


@pytest.mark.parametrize(
    "value, message",
    [(Path("/data"), "param 'bad' of the job is no literal"), ("options", "rerun key only"), ({"a": {1, 2}}, "no literal")],
)
def test_a_param_that_would_not_arrive_as_given_stops_the_job(tmp_path, monkeypatch, value, message):
    """A value that is no literal, or a JobOptions inside another value (which prints as its
    rerun key), stops the job with a message naming the param; nothing is evaluated."""
    from private_evolution.config import JobOptions

    if value == "options":
        value = [JobOptions({"batch_size": 64})]
    errors, seen = run_stage_command(tmp_path, {"bad": value}, monkeypatch)
    assert message in errors, errors[-3000:]
    assert not seen.exists()


def test_parsing_a_value_runs_no_code(tmp_path):
    from private_evolution.job import parse_literal

    marker = tmp_path / "ran"
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()", "os.environ", "[1, x]", "{**a}"):
        with pytest.raises(ValueError):
            parse_literal(text)
    assert not marker.exists()
    assert parse_literal("{'a': (1, -2), 'b': [inf, -inf], 'c': None}") == {"a": (1, -2), "b": [math.inf, -math.inf], "c": None}
    assert math.isnan(parse_literal("nan"))


def test_job_files_are_left_out_of_the_params_snakemake_compares_for_reruns():
    """The rule param job_files (the job's own files) is not a builtin type, and a function of
    input and output: Snakemake compares neither, so it reruns nothing by itself."""
    import inspect

    from private_evolution.job import JobFiles, job_files

    assert {"input", "output"} <= set(inspect.signature(job_files).parameters)
    assert not isinstance(JobFiles.__new__(JobFiles), (str, dict, list, tuple, int, float))
