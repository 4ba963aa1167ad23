"""Progress lines for long loops: done/total, images/s and time left, to the stage log."""

from __future__ import annotations

import logging
import time


class Progress:
    def __init__(self, total: int, what: str, logger: logging.Logger, every_seconds: float = 5.0):
        self.total, self.what, self.logger = total, what, logger
        self.every_seconds = every_seconds
        self.done = 0
        self.start = self.last = time.perf_counter()

    def update(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last >= self.every_seconds or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            left = (self.total - self.done) / rate if rate > 0 else float("nan")
            self.logger.info("%s: %d/%d images, %.0f images/s, %.0f s left", self.what, self.done, self.total, rate, left)
