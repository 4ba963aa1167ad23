"""Stage check_split: which records the split makes private or evaluation data, checked against
the data set's ledger of parts (split_ledger.py) before any data job starts.

Snakemake removes a job's outputs when it starts: a split refused by prepare_private itself has
already cost the experiment's finished part, and preparing it again draws every vote anew. This
job runs first instead (an ancient input of the data jobs, as check_source is), loads the data to
know its number of images and, for an image folder, its file names, checks both parts and records
them. Its output is named by the fields that decide the part and by the data jobs' code digest
(:func:`split_check_id`), and its rule holds no code param, so it runs when that part's data job
would rerun for its split (a field or the code that decides it): the new file, which the data
jobs' new input names, is planned with them, and nothing else reruns it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..datasets import load_dataset, split_of
from ..io import write_json
from ..noise import now
from ..split_ledger import EVALUATION, PRIVATE, record_names, record_parts
from . import logger
from .check_source import CHECKED_FIELDS

# the fields that decide each part's records, beside the source's (check_source.CHECKED_FIELDS);
# every size is in the evaluation part's: a split that does not fit is refused
PART_FIELDS = {
    PRIVATE: ("split", "split_seed", "num_private"),
    EVALUATION: ("split", "split_seed", "num_private", "num_heldout", "num_validation"),
}
CHECK_FORMAT = 1  # part of the output's name: raise it to check every experiment's split again


def checked_fields(part: str) -> tuple[str, ...]:
    return (*CHECKED_FIELDS, *PART_FIELDS[part])


def split_check_id(dataset_cfg: dict, part: str, split_code: str) -> str:
    """The check's name: the fields that decide the part, and ``split_code``, the code digest of
    the data jobs (loading and splitting: an edit there that moves records is checked before those
    jobs rerun, and they rerun for it anyway, so the new name reruns nothing else)."""
    fields = {name: dataset_cfg.get(name) for name in checked_fields(part)}
    named = json.dumps({"part": part, "fields": fields, "code": split_code, "format": CHECK_FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(named.encode()).hexdigest()[:16]


def check_split(dataset_cfg: dict, part: str, ledger_private: str, experiment: str, output_path: str) -> None:
    if part not in PART_FIELDS:
        raise ValueError(f"a split check is of part {sorted(PART_FIELDS)}, not {part!r}")
    data = load_dataset(dataset_cfg)
    private_ids, heldout_ids, validation_ids = split_of(data, dataset_cfg)
    # both parts are checked and recorded under one lock: the two checks run as separate jobs, and
    # a part that passed but was not recorded would protect nothing from a check of another
    # experiment running between them (recording the other part early is conservative: it passed)
    parts = {
        PRIVATE: record_names(private_ids, data.record_names),
        EVALUATION: record_names(np.concatenate([heldout_ids, validation_ids]), data.record_names),
    }
    record_parts(ledger_private, experiment, parts)
    logger.info("the split of '%s' (checked for its %s part) meets no part of the other role in the data set's ledger", experiment, part)
    write_json(output_path, {"part": part, "fields": {name: dataset_cfg.get(name) for name in checked_fields(part)}, "time": now()})
