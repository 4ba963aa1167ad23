"""The warm worker (private_evolution.warm): scripts run in its children, or by themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from private_evolution import warm
from private_evolution.provenance import code_files

REPO = Path(__file__).resolve().parents[1]

# Stands in for a stage script: hands over first, then reports where and how it ran.
SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    preloaded = "numpy" in sys.modules  # before this script imports anything heavy
    from private_evolution.warm import hand_over
    hand_over([sys.argv[1]])
    with open(sys.argv[2], "w") as report:
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "argv": sys.argv,
                   "marker": os.environ.get("MARKER"), "preloaded": preloaded}, report)
    print("to stdout")
    print("to stderr", file=sys.stderr)
    mode = sys.argv[3]
    if mode == "sleep":
        import time
        time.sleep(120)
    if mode == "raise":
        raise RuntimeError("the stage failed")
    sys.exit(int(mode))
    """
)


@pytest.fixture
def worker(monkeypatch):
    """A worker started by this process, as the Snakefile's onstart starts one."""
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))  # as run_script's jobs have it
    socket_path = warm.start(preload=("numpy",))
    assert wait_until(lambda: os.path.exists(socket_path))  # bound once the preload is done
    yield warm._worker
    warm.stop()
    assert warm.SOCKET_ENV not in os.environ
    assert not os.path.exists(socket_path)


def run_script(tmp_path: Path, mode: str, env: dict | None = None, wait: bool = True, python_path: str = str(REPO / "src")):
    script = tmp_path / "stage.py"
    script.write_text(SCRIPT)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    command = [sys.executable, str(script), str(tmp_path / "job.log"), str(tmp_path / "report.json"), mode]
    env = dict(os.environ if env is None else env, MARKER="from the job", PYTHONPATH=python_path)
    if not wait:
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "report.json").read_text())


def test_script_runs_in_a_child_of_the_worker_with_the_jobs_streams_and_environment(worker, tmp_path):
    result = run_script(tmp_path, "3")
    assert result.returncode == 3
    assert "to stdout" in result.stdout and "to stderr" in result.stderr
    ran = report(tmp_path)
    assert ran["ppid"] == worker.pid  # forked by the worker, not the job's own process
    assert ran["preloaded"] is True
    assert ran["cwd"] == str(tmp_path / "work")
    assert ran["marker"] == "from the job"
    assert ran["argv"][1:] == [str(tmp_path / "job.log"), str(tmp_path / "report.json"), "3"]
    assert "ran in a child of the warm worker: exit 3, peak RSS" in (tmp_path / "job.log").read_text()


def test_an_exception_in_the_script_fails_the_job_with_its_traceback(worker, tmp_path):
    result = run_script(tmp_path, "raise")
    assert result.returncode == 1
    assert "RuntimeError: the stage failed" in result.stderr
    assert report(tmp_path)["ppid"] == worker.pid


def test_a_malformed_request_is_refused_and_the_worker_goes_on(worker, tmp_path):
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(20)
        connection.connect(os.environ[warm.SOCKET_ENV])
        replies = connection.makefile("r")
        assert replies.readline() == "ready\n"
        connection.sendall(b"not a request")  # no length header, no file descriptors
        assert replies.readline().startswith("refused ")
    assert run_script(tmp_path, "0").returncode == 0
    assert report(tmp_path)["ppid"] == worker.pid


def test_without_a_worker_the_script_runs_in_its_own_process(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PE_WARM")}
    key = f"{sys.prefix}{os.pathsep * 2}{REPO / 'src'}"  # the key of a worker started with run_script's PYTHONPATH
    for extra in ({}, {warm.SOCKET_ENV: str(tmp_path / "no-socket"), warm.KEY_ENV: key}):
        result = run_script(tmp_path, "0", env={**env, **extra})
        assert result.returncode == 0, result.stderr
        ran = report(tmp_path)
        assert ran["preloaded"] is False and ran["ppid"] == os.getpid()
    assert not (tmp_path / "job.log").exists()


def test_a_job_from_another_python_environment_or_path_runs_itself(worker, tmp_path):
    result = run_script(tmp_path, "0", env={**os.environ, warm.KEY_ENV: "/another/venv"})
    assert result.returncode == 0
    assert report(tmp_path)["ppid"] == os.getpid()
    # another PYTHONPATH could import another copy of the library than the worker preloaded
    assert run_script(tmp_path, "0", python_path=f"{REPO / 'src'}{os.pathsep}{tmp_path}").returncode == 0
    assert report(tmp_path)["ppid"] == os.getpid()
    assert run_script(tmp_path, "0").returncode == 0
    assert report(tmp_path)["ppid"] == worker.pid


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_killing_the_job_stops_its_child(worker, tmp_path):
    job = run_script(tmp_path, "sleep", wait=False)
    assert wait_until(lambda: (tmp_path / "report.json").exists() and (tmp_path / "report.json").stat().st_size > 0)
    child = report(tmp_path)["pid"]
    assert child != job.pid and alive(child)
    job.kill()  # as Snakemake cancels a job
    job.wait()
    assert wait_until(lambda: not alive(child))
    assert worker.poll() is None  # the worker goes on serving


def test_the_worker_stops_when_the_process_that_started_it_is_gone(tmp_path):
    starter = textwrap.dedent(
        """
        import os, sys
        from private_evolution import warm
        warm.start(preload=())
        print(warm._worker.pid, warm._folder, flush=True)
        os._exit(0)  # no atexit, no onsuccess: as if Snakemake were killed
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    output = subprocess.run([sys.executable, "-c", starter], env=env, capture_output=True, text=True, timeout=60)
    pid, folder = output.stdout.split()
    assert wait_until(lambda: not alive(int(pid)))
    assert not Path(folder).exists()  # socket, log and folder removed by the worker itself


def test_stage_scripts_never_mention_the_worker_and_its_code_is_in_no_digest():
    """The hand-over is the package's one entry point: a stage script needs no line for it."""
    scripts = list((REPO / "src" / "scripts").glob("*.py"))
    assert len(scripts) >= 10
    for script in scripts:
        assert "warm" not in script.read_text(), f"{script.name} refers to the warm worker"
        assert all(path.name != "warm.py" for path in code_files(str(script)))


JOB_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from snakemake.iocontainers import Snakemake
    from snakemake.iocontainers import InputFiles, Log, OutputFiles, Params, ResourceList, Wildcards

    # what Snakemake's script preamble leaves in __main__
    snakemake = Snakemake(InputFiles(), OutputFiles(), Params(), Wildcards(), 1, ResourceList(), Log([sys.argv[1]]), {}, "job", 0, ".")
    import private_evolution  # a stage script's first import: the hand-over happens here
    with open(sys.argv[2], "w") as report:
        json.dump({"ppid": os.getppid()}, report)
    """
)


def test_a_snakemake_job_is_handed_over_when_it_imports_the_package(worker, tmp_path):
    script = tmp_path / "job_script.py"
    script.write_text(JOB_SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "job.log"), str(tmp_path / "report.json")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert report(tmp_path)["ppid"] == worker.pid
    assert "ran in a child of the warm worker: exit 0" in (tmp_path / "job.log").read_text()
    # the same import in a process that is not a Snakemake job runs where it is
    plain = subprocess.run(
        [sys.executable, "-c", "import os, private_evolution; print(os.getppid())"], env=env, capture_output=True, text=True, timeout=120
    )
    assert plain.returncode == 0 and int(plain.stdout) == os.getpid()


def test_workflow_results_are_the_same_with_and_without_the_worker(finished_run, tmp_path):
    """finished_run ran with the worker (the default); the same workflow without it gives the same files."""
    from workflow_helpers import copy_repository, share_noise_seed, snakemake, tiny_config, write_config

    logs = "\n".join(path.read_text() for path in (finished_run / "results" / "tiny").rglob("*.log"))
    assert logs.count("ran in a child of the warm worker: exit 0") >= 20

    workdir = copy_repository(tmp_path)
    config = tiny_config()
    config["warm_worker"] = False
    write_config(workdir, config)
    share_noise_seed(finished_run, workdir)
    snakemake(workdir, "--cores", "2")
    cold_logs = "\n".join(path.read_text() for path in (workdir / "results" / "tiny" / "logs").rglob("*.log"))
    assert "warm worker" not in cold_logs
    compared = 0
    for cold in sorted((workdir / "results").rglob("*.npz")):
        warm_file = finished_run / cold.relative_to(workdir)
        with np.load(cold) as a, np.load(warm_file) as b:
            assert a.files == b.files
            for key in a.files:
                assert np.array_equal(a[key], b[key]), f"{cold.relative_to(workdir)}: {key} differs"
        compared += 1
    assert compared >= 20


def test_benchmark_files_hold_the_childs_peak_memory_and_cpu_time(finished_run):
    """Snakemake measures the waiting client (a few MB, no CPU); after the run every benchmark
    file of a job the worker ran holds the child's figures, the same as its log line."""
    import csv
    import re

    from private_evolution.contract import benchmark_of_log

    checked = 0
    for log in (finished_run / "results" / "tiny").rglob("*.log"):
        match = re.search(r"ran in a child of the warm worker: exit 0, peak RSS (\d+) MB, [\d.]+ s, CPU ([\d.]+) s", log.read_text())
        if not match:
            continue
        benchmark = Path(benchmark_of_log(str(log)))
        with open(benchmark) as handle:
            (row,) = list(csv.DictReader(handle, delimiter="\t"))
        assert abs(float(row["max_rss"]) - int(match[1])) <= 0.5, (benchmark, row)
        assert row["cpu_time"] == match[2], (benchmark, row)
        assert float(row["max_rss"]) > 50  # the child, numpy and torch preloaded; the client has ~10 MB
        assert [row[name] for name in warm.BENCHMARK_NA] == ["NA"] * len(warm.BENCHMARK_NA)
        assert float(row["s"]) >= float(row["cpu_time"]) / 2 - 0.5  # Snakemake's wall time kept (the job had 1-2 threads)
        checked += 1
    assert checked >= 20


def test_usage_of_served_jobs_is_written_into_snakemakes_table(tmp_path):
    benchmark = tmp_path / "results" / "x" / "benchmarks" / "vote" / "eps_1_iter_1.tsv"
    benchmark.parent.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    benchmark.write_text(header + "2.00\t0:00:02\t7.03\t10.91\t1.95\t2.94\t0.00\t0.00\t0.00\t0.00\n")
    missing = tmp_path / "results" / "x" / "benchmarks" / "gone.tsv"
    served = tmp_path / warm.SERVED_FILE
    served.write_text(
        json.dumps({"benchmark": str(benchmark), "max_rss_mb": 412.5, "cpu_seconds": 1.5}) + "\n"
        + json.dumps({"benchmark": str(missing), "max_rss_mb": 1.0, "cpu_seconds": 1.0}) + "\n"
    )
    assert warm.record_child_usage(str(served)) == 1
    assert benchmark.read_text() == header + "2.00\t0:00:02\t412.50\tNA\tNA\tNA\tNA\tNA\t75.00\t1.50\n"
    assert not missing.exists()
    from private_evolution.contract import benchmark_of_log, job_benchmark, job_log

    assert benchmark_of_log("results/x/private/logs/vote/eps_1_iter_1.log") == "results/x/private/benchmarks/vote/eps_1_iter_1.tsv"
    assert benchmark_of_log(job_log("embed/shared_iter_0_pixels").format(exp="x")) == job_benchmark("embed/shared_iter_0_pixels").format(exp="x")
    assert benchmark_of_log("somewhere/else.log") is None
