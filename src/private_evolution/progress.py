"""Progress lines for long loops (embedding, rendering, voting, decoding a data set).

Every ~10 s and at the end a :class:`Progress` writes one line. Where it goes depends on the
stage, which :func:`private_evolution.logs.stage_logging` declares with :func:`terminal`:

- a public stage (its log is public): ``done/total <unit>, <rate> <unit>/s, <t> left`` to the stage
  log, whose handler also writes the terminal (stderr);
- a private stage (its log under ``private/``): that line goes only to the private log, and the
  terminal gets ``<percent>% done, <t> elapsed, about <t> left``: no count and no rate (a loop
  done within its first interval puts nothing on the terminal: short loops would only add noise).

Why no count and no rate from a private stage: the terminal, Snakemake's log and a cluster's job
log are outputs other people may read, and the sizes a private stage works through (the private
split, a shard of it, the whole source data set while decoding it, the private samples of a class)
are declared nowhere except, for the private split, ``dataset.num_private``. A count prints one, and
a rate times the elapsed time gives it back. The percent is ``floor(100 * done / total)``, so a
private stage's terminal lines are a function of the elapsed times and of the fraction done only:
for a private set of N or N + 1 images they read the same but for those numbers (the test
``test_private_progress_prints_no_count``). How long a job runs is visible anyway (Snakemake's log,
the benchmark files); the lines add the fraction done, nothing that depends on the data's content.
Loops over private samples advance in an order that does not follow the labels (see
``vote.nearest_neighbor_counts``), so the fraction never marks where one class ends.

Outside a stage (a library call, a benchmark), lines go to the logger only.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from dataclasses import dataclass

EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class _Terminal:
    stage: str
    private: bool


_TERMINAL: _Terminal | None = None


@contextlib.contextmanager
def terminal(stage: str, private: bool):
    """Within this block progress lines reach the terminal: whole for a public stage (through the
    log's stderr handler), as percent and time only for a private one."""
    global _TERMINAL
    previous, _TERMINAL = _TERMINAL, _Terminal(stage, private)
    try:
        yield
    finally:
        _TERMINAL = previous


def duration(seconds: float) -> str:
    """42 s, 3 min 18 s, 2 h 05 min."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def private_line(what: str, fraction: float, elapsed: float, finished: bool) -> str:
    """A private stage's terminal line: the fraction done and times, nothing else of the run."""
    if finished:
        return f"{what}: 100% done in {duration(elapsed)}"
    percent = min(int(100 * fraction), 99)
    left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
    return f"{what}: {percent}% done, {duration(elapsed)} elapsed, about {duration(left)} left"


class Progress:
    """``update(count)`` after each batch; a line at most every ``every_seconds`` and at the end.
    Safe to update from several threads."""

    def __init__(
        self, total: int, what: str, logger: logging.Logger | None = None, every_seconds: float = EVERY_SECONDS,
        unit: str = "images", clock=time.monotonic,
    ):
        self.total, self.what, self.unit = int(total), what, unit
        self.logger = logger or logging.getLogger("private_evolution")
        self.every_seconds, self.clock = every_seconds, clock
        self.done = 0
        self.start = self.last = clock()
        self.lines = 0
        self._lock = threading.Lock()

    def update(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = self.clock()
            finished = self.done >= self.total
            if now - self.last < self.every_seconds and not finished:
                return
            self.last = now
            self._report(now - self.start, finished)

    def _report(self, elapsed: float, finished: bool) -> None:
        self.lines += 1
        rate = self.done / max(elapsed, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        self.logger.info(
            "%s: %d/%d %s, %.1f %s/s, %s left", self.what, self.done, self.total, self.unit, rate, self.unit, duration(left)
        )
        sink = _TERMINAL
        if sink is not None and sink.private and (self.lines > 1 or elapsed >= self.every_seconds):
            fraction = self.done / self.total if self.total else 1.0
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            print(f"{stamp} INFO [{sink.stage}] {private_line(self.what, fraction, elapsed, finished)}", file=sys.stderr, flush=True)
