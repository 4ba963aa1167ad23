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
    # both parts are checked (under one lock), this job's recorded: the two checks run as separate
    # jobs, and one part must not pass, be recorded and have its data job run while the other is refused
    parts = {
        PRIVATE: record_names(private_ids, data.record_names),
        EVALUATION: record_names(np.concatenate([heldout_ids, validation_ids]), data.record_names),
    }
    record_parts(ledger_private, experiment, parts, record=(part,))
    logger.info("the split of '%s' meets no part of the other role in the data set's ledger; %s part recorded", experiment, part)
    write_json(output_path, {"part": part, "fields": {name: dataset_cfg.get(name) for name in checked_fields(part)}, "time": now()})
