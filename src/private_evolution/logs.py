"""Logging for stage scripts: to the rule's log file and to stderr.

A :class:`PEError` (bad input, bad config) ends the job with its message and
exit code 1 instead of a traceback: the message already says what to fix.

Jobs that read private data log under ``results/{exp}/private/logs/``: their
messages (file names, counts, errors quoting the data, libraries' warnings) stay there, and stderr,
which Snakemake, SLURM and the user's terminal keep elsewhere, gets a line saying
where to look, progress lines without counts (progress.py), and the message of a
:class:`PublicError` (a file or config error that quotes nothing of the data), so
that a missing file or a wrong dtype is fixed without opening a private log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from pathlib import Path

from . import PEError, PublicError
from .io import remove_on_termination
from .progress import terminal

FORMAT = "%(asctime)s %(levelname)s %(message)s"


def is_private_log(log_path: str | None) -> bool:
    return bool(log_path) and "private" in Path(log_path).parts


@contextlib.contextmanager
def stage_logging(log_path: str | None, stage: str):
    logger = logging.getLogger("private_evolution")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    remove_on_termination()  # a killed job leaves no half-written temporary file
    private = is_private_log(log_path)
    handlers: list[logging.Handler] = [] if private else [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(f"{FORMAT.replace('%(message)s', '')}[{stage}] %(message)s"))
        logger.addHandler(handler)
    if private:
        print(f"[{stage}] reads private data: its messages are in {log_path} (private)", file=sys.stderr)
    try:
        with terminal(stage, private), _warnings_to_log(logger, private):
            yield logger
    except PEError as err:
        logger.error("%s", err)
        if private and isinstance(err, PublicError):  # about a file or the config: nothing of the data
            print(f"[{stage}] failed: {err}\n(also in {log_path}, private)", file=sys.stderr)
        elif private:
            print(f"[{stage}] failed: the reason is in {log_path} (private)", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        logger.exception("%s failed", stage)
        if private:  # the traceback may quote private values: it stays in the private log
            print(f"[{stage}] failed with an unexpected error: the traceback is in {log_path} (private)", file=sys.stderr)
            raise SystemExit(1) from None
        raise
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


@contextlib.contextmanager
def _warnings_to_log(logger: logging.Logger, private: bool):
    """A private stage's warnings go to its private log only: whether a library warns can tell
    of the data (PIL on one private palette PNG, numpy on one embedding beyond float32)."""
    if not private:
        yield
        return
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: logger.warning(
            "%s: %s (%s:%d)", category.__name__, message, filename, lineno
        )
        yield
