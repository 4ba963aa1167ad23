"""The id of one preparation of a private data set (one run of prepare_private), and the ledger's lock.

Its own module, importing nothing of the package but ``io``: prepare_private imports it, and the
code digest of the data jobs (provenance.code_digest) follows imports, so an edit of the ledger
or the noise code must not rerun the data splits, nor make a new preparation (which cannot be
undone after a release).
"""

from __future__ import annotations

import fcntl
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from . import PEError
from .io import read_json, write_json

LOCK_FILE = ".lock"
PREPARATIONS_FILE = "preparations.json"  # in the ledger's private/: experiment -> how many times its data was prepared
COUNT_FIELD = "preparation_id"  # data_preparation.json: the experiment and its count of preparations
RANDOM_FIELD = "random"  # data_preparation.json: 128 random bits of this preparation


@contextmanager
def locked(ledger_private: str | os.PathLike):
    """One writer at a time (parallel and cluster votes of several experiments share a ledger)."""
    folder = Path(ledger_private)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def next_preparation(ledger_private: str | os.PathLike, experiment: str) -> dict:
    """A new preparation of ``experiment``'s private data: its count of preparations in the data
    set's ledger (``experiment#n``) and 128 random bits, as data_preparation.json holds them.
    Nothing about the data decides it, so every preparation draws anew whether or not the data
    changed (see :func:`preparation_key`)."""
    with locked(ledger_private):
        path = Path(ledger_private) / PREPARATIONS_FILE
        counts = read_json(path) if path.is_file() else {}
        counts[experiment] = int(counts.get(experiment, 0)) + 1
        write_json(path, counts)
    return {COUNT_FIELD: f"{experiment}#{counts[experiment]}", RANDOM_FIELD: secrets.token_hex(16)}


def preparation_key(record: dict, secret_seed: bool) -> str:
    """What a vote's draw key (noise.draw_key) holds of the preparation. With a secret seed, the
    count and the random bits: a ledger restored from a backup, or copied and prepared in two
    places, repeats a count but never the bits, so two preparations never share noise. With a
    public seed (not DP; for comparing runs across folders) the count alone, so that such runs
    draw the same noise."""
    if not secret_seed:
        return record[COUNT_FIELD]
    if RANDOM_FIELD not in record:
        raise PEError("data_preparation.json has no random part (made by an older version): run prepare_private again")
    return f"{record[COUNT_FIELD]}-{record[RANDOM_FIELD]}"
