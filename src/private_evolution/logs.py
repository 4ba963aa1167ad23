"""Logging for stage scripts: to the rule's log file and to stderr.

A :class:`PEError` (bad input, bad config) ends the job with its message and
exit code 1 instead of a traceback: the message already says what to fix.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

from . import PEError

FORMAT = "%(asctime)s %(levelname)s %(message)s"


@contextlib.contextmanager
def stage_logging(log_path: str | None, stage: str):
    logger = logging.getLogger("private_evolution")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(f"{FORMAT.replace('%(message)s', '')}[{stage}] %(message)s"))
        logger.addHandler(handler)
    try:
        yield logger
    except PEError as err:
        logger.error("%s", err)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("%s failed", stage)
        raise
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
