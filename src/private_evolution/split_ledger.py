"""Which records of a data set each experiment has used, and how, in the data set's ledger.

An evaluation record (held-out test or validation) is not private: its metrics are published
without noise. A private record's influence on the public outputs is bounded by the noisy votes,
apart from the figures labelled as not DP (the epsilon = inf run, the accuracy ceiling). So a
record that one experiment (or an earlier split of the same experiment) holds as private must
never be another's evaluation record, or that experiment's public metrics would tell about the
first one's private records, and the first's DP label would be false for anyone who sees every
public output. Equally, a record already used for published metrics cannot become private.

Each data job checks its parts against ``results/_ledger/<source>/private/splits.json`` and
records them there, under the ledger's lock, before it counts a preparation or writes a file; it
refuses a part that meets a part of the other role. Which records a part holds follows from the
config, the number of images and, for an image folder, its file names, never from the pixels;
the message (with counts, which tell the number of images) stays in the job's private log, as
other messages that depend on that number do. Records are named by :func:`record_names`. Parts are kept as
the union over every split an experiment has had: an earlier private part stays private whatever
the config says now. The check_split job checks and records before the data jobs start (a
refusal there costs nothing); the data jobs check again, for a ledger changed since, after
Snakemake has removed their earlier outputs (see README).

Imports only ``preparation`` (the ledger's lock) and ``io``: prepare_private imports this, and an
edit of the vote's code must not rerun the data jobs (see preparation.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import PEError
from .io import read_json, write_json
from .preparation import locked

SPLITS_FILE = "splits.json"  # in the ledger's private/: experiment -> {role: sorted record names}
PRIVATE, EVALUATION = "private", "evaluation"
ROLES = (PRIVATE, EVALUATION)


def _other(role: str) -> str:
    return EVALUATION if role == PRIVATE else PRIVATE


def record_names(ids, names: list[str] | None = None) -> list[str]:
    """How the ledger names the records at positions ``ids`` of the loaded data: by ``names`` where
    the loader gives stable ones (an image folder's files, so that another class list or order
    names the same files), else by their position in the source (its file's order)."""
    return [names[i] for i in ids] if names is not None else [str(int(i)) for i in ids]


def overlaps(used: dict, role: str, names: set[str]) -> dict[str, set[str]]:
    """Per experiment, which of ``names`` (a part of role ``role``) its recorded parts hold in the
    other role."""
    found = {}
    for experiment, parts in sorted(used.items()):
        shared = names.intersection(parts.get(_other(role), []))
        if shared:
            found[experiment] = shared
    return found


def record_parts(ledger_private: str | os.PathLike, experiment: str, parts: dict[str, list[str]]) -> None:
    """Record that ``experiment`` uses the records of each part (role -> names, as
    :func:`record_names` gives them), after checking, for all of them before any is recorded,
    that no experiment of this data set uses one of them in the other role."""
    unknown = set(parts) - set(ROLES)
    if unknown:
        raise ValueError(f"a part's role is one of {ROLES}, not {sorted(unknown)}")
    parts = {role: set(map(str, names)) for role, names in parts.items()}
    with locked(ledger_private):
        path = Path(ledger_private) / SPLITS_FILE
        used = read_json(path) if path.is_file() else {}
        for role, names in parts.items():
            clashes = overlaps(used, role, names)
            if clashes:
                where = ", ".join(f"'{name}' ({len(shared)})" for name, shared in clashes.items())
                # a PEError, kept in the job's private log: how many records meet depends on the
                # number of images, which the terminal does not show (progress.py)
                raise PEError(
                    f"experiment '{experiment}' would use {len(set().union(*clashes.values()))} records of its data set as "
                    f"{'private' if role == PRIVATE else 'evaluation (held-out test or validation)'} data that these "
                    f"experiments use as {'evaluation' if role == PRIVATE else 'private'} data: {where}. A private record "
                    "must never be evaluation data (whose metrics are published without noise), in any experiment on the "
                    "data set, nor in an earlier split of this one. With dataset.split: random, give every experiment on "
                    "this data set the same dataset.split_seed, dataset.num_heldout and dataset.num_validation (the private "
                    "part is the start of the shuffled images, the evaluation parts their end, so private parts of any size "
                    f"that fits stay apart from them). The ledger that remembers every part used: {path}"
                )
        for role, names in parts.items():
            entry = used.setdefault(experiment, {})
            entry[role] = sorted(names.union(entry.get(role, [])))
        write_json(path, used)
