"""The warm worker: stage scripts run in processes forked from one that has torch imported.

Every Snakemake job is a fresh Python process, and importing torch alone costs about
2.5 s of CPU on the machines we measured, more than the computation of a small embedding
job (benchmarks/RESULTS.md). When the workflow runs on the local machine, the Snakefile
starts one worker per run (:func:`start`). The worker imports the heavy modules once
(:data:`PRELOAD`) and waits on a Unix socket in a private temporary folder. A Snakemake
job calls :func:`hand_over` at its first import of the package (the one entry point, in
``private_evolution/__init__.py``; stage scripts never mention the worker): its process
sends its command line, working directory, environment and standard streams to the worker, which forks a child that runs
the same script file with the modules already imported, and reports the child's exit
status back. The job's own process waits for it, so Snakemake sees what it always sees:
the job's exit code, outputs and logs. Results are the same bit for bit (tested).

Whenever the worker is not there (or still importing), or runs another Python environment
or PYTHONPATH than the job, the script simply runs in its own process. Under a cluster executor no worker is started
(jobs run on other machines). If the job's process is killed (Snakemake cancelling it),
the worker kills the child; if Snakemake's process goes away, the worker stops.

Protocol, one connection per job: worker ``ready`` -> client request (4-byte length,
JSON with argv, cwd and env; stdin/stdout/stderr passed as file descriptors) -> worker
``started <pid>`` -> worker ``exit <code> <peak RSS kB> <seconds> <CPU seconds>``, or
``refused <why>`` before anything started.

Benchmark files: Snakemake measures the job's own process, which only waits here. So each
job the worker ran adds its child's peak memory and CPU time to a list in the worker's
folder, and :func:`stop` (the Snakefile's onsuccess / onerror, once every job has ended)
writes them into the jobs' benchmark files (:func:`record_child_usage`).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from typing import NamedTuple

SOCKET_ENV = "PE_WARM_SOCKET"
# The worker's Python environment and PYTHONPATH: a job with other ones (a conda env, a copy
# of the library) runs itself, since the worker's preloaded modules would not be its own.
KEY_ENV = "PE_WARM_KEY"
CHILD_ENV = "PE_WARM_CHILD"  # set in the worker's children, so that they do not hand over again

# Imported once by the worker. torch is the reason the worker exists; the rest are the
# library modules every stage script imports. Diffusers is left out on purpose: its
# import probes CUDA, and a process must not fork once CUDA is initialised.
PRELOAD = (
    "numpy",
    "torch",
    "dp_accounting",
    "snakemake.iocontainers",
    "snakemake.shell",
    "scipy.optimize",  # the accountant's calibration
    "scipy.stats",
    "matplotlib",  # the glyph simulator finds its fonts through it (0.3 s per job otherwise)
    "private_evolution.apis.glyph_simulator",
    "private_evolution.embedders.pixels",
    "private_evolution.embedders.effnet_lite0",
    "private_evolution.embedders.classifier",
    "private_evolution.metrics.frechet_distance",
    "private_evolution.metrics.precision_recall",
    "private_evolution.stages.calibrate",
    "private_evolution.stages.embed",
    "private_evolution.stages.evaluate",
    "private_evolution.stages.lookahead",
    "private_evolution.stages.prepare_private",
    "private_evolution.stages.random_population",
    "private_evolution.stages.select",
    "private_evolution.stages.vary",
    "private_evolution.stages.vote",
)

# The worker imports numpy with single-threaded BLAS, as Snakemake gives a one-thread job
# (it sets these to the job's threads); torch's thread count is set per job in the child.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
)

READY_TIMEOUT_S = 120.0  # a client waits this long for a busy worker to accept it
KILL_GRACE_S = 5.0

_worker: subprocess.Popen | None = None
_folder: str | None = None
SERVED_FILE = "served.jsonl"  # in the worker's folder: one line per job a child ran


class ChildUsage(NamedTuple):
    """What the worker reports of a child that ran a job."""

    code: int
    peak_rss_kb: int
    seconds: float
    cpu_seconds: float


# ----------------------------------------------------------------------------- client


def hand_over(log: Sequence[str] = ()) -> None:
    """Run the calling script in the warm worker if one serves this run; return if not.

    Called by the package's import in a Snakemake job, with the rule's log files. When the worker ran
    the script, this process exits with the script's exit code, after appending the
    child's peak memory and time to the first log file and noting them for the job's
    benchmark file (see :func:`record_child_usage`).
    """
    log_path = log[0] if len(log) else None
    socket_path = os.environ.get(SOCKET_ENV)
    if not socket_path or os.environ.get(CHILD_ENV) or os.environ.get(KEY_ENV) != environment_key():
        return
    outcome = _ask_worker(socket_path)
    if outcome is None:
        return
    if log_path:
        try:
            with open(log_path, "a") as log_file:
                log_file.write(
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')} INFO [warm worker] ran in a child of the warm worker: "
                    f"exit {outcome.code}, peak RSS {outcome.peak_rss_kb / 1024:.0f} MB, {outcome.seconds:.2f} s, "
                    f"CPU {outcome.cpu_seconds:.2f} s\n"
                )
        except OSError:
            pass
        _note_served(socket_path, log_path, outcome)
    raise SystemExit(outcome.code)


def _note_served(socket_path: str, log_path: str, usage: ChildUsage) -> None:
    """Add the child's usage to the worker's list, for the benchmark file of the job that
    writes ``log_path`` (contract.benchmark_of_log); one short line, appended in one write."""
    from .contract import benchmark_of_log

    benchmark = benchmark_of_log(log_path)
    if benchmark is None:
        return
    line = json.dumps({
        "benchmark": os.path.abspath(benchmark),
        "max_rss_mb": usage.peak_rss_kb / 1024,
        "cpu_seconds": usage.cpu_seconds,
    })
    try:
        with open(os.path.join(os.path.dirname(socket_path), SERVED_FILE), "a") as served:
            served.write(line + "\n")
    except OSError:
        pass


# Snakemake's columns that the worker's child measures; the others describe the waiting
# process (or are not measured for a child): NA.
BENCHMARK_NA = ("max_vms", "max_uss", "max_pss", "io_in", "io_out")


def record_child_usage(served_path: str) -> int:
    """Write each served job's peak RSS and CPU time into its benchmark file; returns how many.

    Snakemake wrote these files from the job's own process, which only waited for the
    child: its ``s`` (wall time, the handover included) is kept, ``max_rss`` and
    ``cpu_time`` (and ``mean_load``, CPU time over wall time as Snakemake computes it)
    become the child's, and the memory and I/O columns the child was not measured for
    become NA. A file that is missing or not Snakemake's table is left alone.
    """
    import csv
    import io as text_io

    from .io import save_bytes  # the main process only: numpy is long imported there

    if not os.path.isfile(served_path):
        return 0
    written = 0
    with open(served_path) as served:
        records = [json.loads(line) for line in served if line.strip()]
    for record in records:
        path = record["benchmark"]
        try:
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle, delimiter="\t"))
        except OSError:
            continue
        if len(rows) < 2 or not {"s", "max_rss", "cpu_time", "mean_load"} <= set(rows[0]):
            continue
        header = rows[0]
        for row in rows[1:]:
            values = dict(zip(header, row))
            seconds = float(values["s"])
            values["max_rss"] = f"{record['max_rss_mb']:.2f}"
            values["cpu_time"] = f"{record['cpu_seconds']:.2f}"
            values["mean_load"] = f"{100 * record['cpu_seconds'] / seconds:.2f}" if seconds > 0 else "NA"
            values.update({name: "NA" for name in BENCHMARK_NA if name in values})
            row[:] = [values[name] for name in header]
        table = text_io.StringIO()
        csv.writer(table, delimiter="\t", lineterminator="\n").writerows(rows)
        save_bytes(path, table.getvalue().encode())
        written += 1
    return written


def environment_key() -> str:
    return f"{sys.prefix}{os.pathsep * 2}{os.environ.get('PYTHONPATH', '')}"


def _ask_worker(socket_path: str) -> ChildUsage | None:
    """The child's exit code and usage, or None if this process should run the script."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.settimeout(READY_TIMEOUT_S)
        connection.connect(socket_path)
        replies = connection.makefile("r")
        if replies.readline().strip() != "ready":
            raise ValueError("no ready")
        request = json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
        payload = struct.pack("!I", len(request)) + request
        sent = socket.send_fds(connection, [payload], [0, 1, 2])
        connection.sendall(payload[sent:])
    except (OSError, ValueError):
        connection.close()  # the worker sees the end at once, rather than wait for a request
        return None  # nothing was started: run here
    # From here on the child may be running: never run the script a second time.
    connection.settimeout(None)
    child = None
    try:
        for line in replies:
            word, _, rest = line.strip().partition(" ")
            if word == "refused":  # nothing was started
                print(f"[warm worker] not used: {rest}", file=sys.stderr)
                connection.close()
                return None
            if word == "started":
                child = int(rest)
            elif word == "exit":
                code, peak_rss_kb, seconds, cpu_seconds = rest.split()
                return ChildUsage(int(code), int(peak_rss_kb), float(seconds), float(cpu_seconds))
    except (OSError, ValueError):
        pass
    if child is not None:
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
    print(
        "[warm worker] the worker stopped before reporting this job's end; its outputs are not trusted. "
        "Run Snakemake again (it reruns this job), or set warm_worker: false in the config.",
        file=sys.stderr,
    )
    return ChildUsage(1, 0, 0.0, 0.0)


# ------------------------------------------------------------------- the Snakefile's side


def start(preload: tuple[str, ...] = PRELOAD) -> str:
    """Start a worker for this Snakemake run and point the jobs at it; returns its socket path.

    Jobs inherit the environment variables set here. The socket appears once the worker
    has imported its modules; jobs that start before that run by themselves rather than
    wait (the first jobs of a run, e.g. prepare_private, need no torch). The worker is
    stopped by :func:`stop` (the Snakefile's onsuccess / onerror), at this process's
    exit, or by itself when this process is gone.
    """
    global _worker, _folder
    if _worker is not None:
        return os.environ.get(SOCKET_ENV)
    # A short private folder: socket paths are limited to ~100 bytes, and mode 0700 keeps
    # other users from connecting.
    _folder = tempfile.mkdtemp(prefix="pe-warm-")
    socket_path = os.path.join(_folder, "socket")
    env = {**os.environ, **{name: "1" for name in THREAD_VARIABLES}}
    with open(os.path.join(_folder, "worker.log"), "w") as log:
        _worker = subprocess.Popen(
            [sys.executable, "-m", "private_evolution.warm", socket_path, str(os.getpid()), *preload],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,  # a Ctrl-C reaches the jobs, which then stop their children
        )
    atexit.register(stop)
    os.environ[SOCKET_ENV] = socket_path
    os.environ[KEY_ENV] = environment_key()
    return socket_path


def stop() -> None:
    """Stop the worker started by :func:`start` (its children are stopped with it), after
    writing the usage of the jobs it ran into their benchmark files."""
    global _worker, _folder
    os.environ.pop(SOCKET_ENV, None)
    os.environ.pop(KEY_ENV, None)
    if _worker is not None:
        if _worker.poll() is None:
            _worker.terminate()
            try:
                _worker.wait(timeout=KILL_GRACE_S + 5)
            except subprocess.TimeoutExpired:
                _worker.kill()
                _worker.wait()
        _worker = None
    if _folder is not None:
        try:
            record_child_usage(os.path.join(_folder, SERVED_FILE))
        except (OSError, ValueError) as err:  # never fail the run for its benchmark files
            print(f"[warm worker] could not write the jobs' usage into their benchmark files: {err}", file=sys.stderr)
        shutil.rmtree(_folder, ignore_errors=True)
        _folder = None


# ----------------------------------------------------------------------------- worker


class _Stop(Exception):
    pass


def _raise_stop(signum, frame):
    raise _Stop()


def serve(socket_path: str, parent_pid: int, preload: tuple[str, ...]) -> None:
    """The worker's loop: fork a child per request, report each child's end, until stopped."""
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started = time.monotonic()
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as err:  # an optional package missing: its jobs import what they need
            print(f"preload {name}: {err!r}", flush=True)
    print(f"preloaded {len(preload)} modules in {time.monotonic() - started:.2f} s", flush=True)
    # Bound only now: until the socket exists, jobs run by themselves instead of waiting.
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(64)

    # SIGCHLD wakes the select loop through this pipe, so a job's end is reported at once.
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listener")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    children: dict[int, tuple[socket.socket, float]] = {}  # pid -> (client connection, start time)
    kill_at: dict[int, float] = {}  # children whose client left: pid -> when to SIGKILL
    try:
        while os.getppid() == parent_pid:
            for key, _ in selector.select(timeout=1.0):
                if key.data == "listener":
                    _accept(listener, selector, children)
                elif key.data == "wake":
                    try:
                        os.read(wake_read, 4096)
                    except BlockingIOError:
                        pass
                else:  # a client's connection: readable means it closed (the job was killed)
                    pid = key.data
                    selector.unregister(key.fileobj)
                    if pid in children and pid not in kill_at:
                        _signal(pid, signal.SIGTERM)
                        kill_at[pid] = time.monotonic() + KILL_GRACE_S
            _reap(selector, children, kill_at)
            for pid, deadline in list(kill_at.items()):
                if time.monotonic() > deadline:
                    _signal(pid, signal.SIGKILL)
    except _Stop:
        pass
    finally:
        for pid in children:
            _signal(pid, signal.SIGTERM)
        listener.close()
        try:
            os.unlink(socket_path)
        except OSError:
            pass
        if os.getppid() != parent_pid:  # nobody left to remove the folder start() made
            shutil.rmtree(os.path.dirname(socket_path), ignore_errors=True)


def _accept(listener, selector, children) -> None:
    connection, _ = listener.accept()
    connection.settimeout(10.0)
    fds: list[int] = []
    try:
        connection.sendall(b"ready\n")
        header, fds, _, _ = socket.recv_fds(connection, 65536, 3)
        if len(header) < 4 or len(fds) != 3:
            raise ValueError("malformed request")
        (size,) = struct.unpack("!I", header[:4])
        body = header[4:]
        while len(body) < size:
            more = connection.recv(size - len(body))
            if not more:
                raise ValueError("request cut short")
            body += more
        request = json.loads(body)
    except (OSError, ValueError) as err:
        print(f"refused a request: {err!r}", flush=True)
        for fd in fds:
            os.close(fd)
        try:
            connection.sendall(f"refused {err}\n".encode())
        except OSError:
            pass
        connection.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child never returns
        _run_child(request, fds, listener, selector, children)
    for fd in fds:
        os.close(fd)
    children[pid] = (connection, time.monotonic())
    try:
        connection.sendall(f"started {pid}\n".encode())
    except OSError:
        pass  # the client left already: noticed through the selector
    selector.register(connection, selectors.EVENT_READ, pid)


def _reap(selector, children, kill_at) -> None:
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection, began = children.pop(pid)
        kill_at.pop(pid, None)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code  # killed by a signal: the shell's convention
        try:
            selector.unregister(connection)
        except (KeyError, ValueError):
            pass
        try:
            cpu_seconds = usage.ru_utime + usage.ru_stime
            connection.sendall(f"exit {code} {usage.ru_maxrss} {time.monotonic() - began:.3f} {cpu_seconds:.3f}\n".encode())
        except OSError:
            pass
        connection.close()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def _run_child(request: dict, fds: list[int], listener, selector, children) -> None:
    code = 1
    try:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        selector.close()
        listener.close()
        for connection, _ in children.values():
            connection.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[CHILD_ENV] = "1"
        _apply_threads(os.environ.get("OMP_NUM_THREADS"))
        _reseed_inherited_generators()
        sys.argv = list(request["argv"])
        sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
        code = _run_script(sys.argv[0])
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reseed_inherited_generators() -> None:
    """Every forked child would otherwise share the worker's global random states (numpy's
    legacy np.random, Python's random, torch's default generator): reseed them from the OS,
    as a fresh process would be. Our stages draw only from explicit, keyed generators."""
    import random

    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        sys.modules["torch"].seed()


def _apply_threads(threads: str | None) -> None:
    """A fresh process reads OMP_NUM_THREADS when torch loads; the forked child sets it here."""
    if threads and "torch" in sys.modules:
        try:
            sys.modules["torch"].set_num_threads(max(1, int(threads)))
        except ValueError:
            pass


def _run_script(path: str) -> int:
    import runpy

    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as done:
        if done.code is None:
            return 0
        if isinstance(done.code, int):
            return done.code
        print(done.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), tuple(sys.argv[3:]))
