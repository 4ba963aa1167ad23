"""Stage check_split: which records the split makes private or evaluation data, checked against
the data set's ledger of parts (split_ledger.py) before any data job starts.

Snakemake removes a job's outputs when it starts: a split refused by prepare_private itself has
already cost the experiment's finished part, and preparing it again draws every vote anew. This
job runs first instead (an ancient input of the data jobs, as check_source is), loads the data to
know its number of images and, for an image folder, its file names, checks the part and records
it. Its output is named by the fields that decide the part (:func:`split_check_id`) and its rule
holds no code digest, so it runs when, and only when, that part's records may change: a split
change makes a new file, which the data jobs' new input names, and they are planned with it.
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


def split_check_id(dataset_cfg: dict, part: str) -> str:
    fields = {name: dataset_cfg.get(name) for name in checked_fields(part)}
    named = json.dumps({"part": part, "fields": fields, "format": CHECK_FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(named.encode()).hexdigest()[:16]


def check_split(dataset_cfg: dict, part: str, ledger_private: str, experiment: str, output_path: str) -> None:
    if part not in PART_FIELDS:
        raise ValueError(f"a split check is of part {sorted(PART_FIELDS)}, not {part!r}")
    data = load_dataset(dataset_cfg)
    private_ids, heldout_ids, validation_ids = split_of(data, dataset_cfg)
    ids = private_ids if part == PRIVATE else np.concatenate([heldout_ids, validation_ids])
    record_parts(ledger_private, experiment, {part: record_names(ids, data.record_names)})
    logger.info("the %s part of '%s' meets no part of the other role in the data set's ledger", part, experiment)
    write_json(output_path, {"part": part, "fields": {name: dataset_cfg.get(name) for name in checked_fields(part)}, "time": now()})
