"""Progress lines for long loops (embedding, rendering, voting, decoding a data set).

Every ~10 s and at the end a :class:`Progress` writes one line. Where it goes depends on the
stage, which :func:`private_evolution.logs.stage_logging` declares with :func:`terminal`:

- a public stage (its log is public): ``done/total <unit>, <rate> <unit>/s, <t> left`` to the stage
  log, whose handler also writes the terminal (stderr);
- a private stage (its log under ``private/``): that line goes only to the private log, and the
  terminal gets ``running, <t> elapsed`` and ``done in <t>``, plus the percent done and time left
  only where the loop's total is declared public (``total_is_public``: the vote, whose total is
  ``dataset.num_private`` or a shard of it). A loop done within its first interval puts nothing on
  the terminal: short loops would only add noise.

Why no count, no rate and mostly no percent from a private stage: the terminal, Snakemake's log and
a cluster's job log are outputs other people may read, and the sizes a private stage works through
(the whole source data set while decoding it, the private samples of a class) are declared nowhere
public. A count prints one, a rate times the elapsed time gives it back, and so does the percent
done: each item takes about the same time, so the percent reached at a given second is a function
of the total (a DP review measured it: the percent lines of decoding 2,000 or 2,001 images differ
in most runs). What remains, when the lines come and the time the job took, is what Snakemake's
log shows of every job anyway. Loops over private samples advance in an order that does not follow
the labels (see ``vote.nearest_neighbor_counts``), so the vote's fraction never marks where one
class ends.

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


def private_line(what: str, fraction: float, elapsed: float, finished: bool, total_is_public: bool = False) -> str:
    """A private stage's terminal line: the elapsed time, and the fraction done only where the total
    is declared public (the vote and embed_real walk dataset.num_private or a shard of it); the
    fraction of a size declared nowhere (the source data set while it is decoded) gives that size
    back, within a line or two."""
    if finished:
        return f"{what}: done in {duration(elapsed)}"
    if not total_is_public:
        return f"{what}: running, {duration(elapsed)} elapsed"
    percent = min(int(100 * fraction), 99)
    left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("nan")
    return f"{what}: {percent}% done, {duration(elapsed)} elapsed, about {duration(left)} left"


class Progress:
    """``update(count)`` after each batch; a line at most every ``every_seconds`` and at the end.
    Safe to update from several threads."""

    def __init__(
        self, total: int, what: str, logger: logging.Logger | None = None, every_seconds: float = EVERY_SECONDS,
        unit: str = "images", clock=time.monotonic, total_is_public: bool = False,
    ):
        self.total_is_public = total_is_public
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
            print(f"{stamp} INFO [{sink.stage}] {private_line(self.what, fraction, elapsed, finished, self.total_is_public)}", file=sys.stderr, flush=True)
