"""Stage check_source: what can be checked of the data set from metadata alone, before any job loads it.

A job that loads the data (prepare_private and its siblings) is rerun when its config changes,
and Snakemake removes its outputs before it starts: a bad input found there has already cost the
finished private split (and every job after it). This stage fails first instead, reading no
image: file or folder present, an npz's dtype and shapes from its .npy headers, a user's
cache_dir present. Its output and messages hold only config values and header facts: public.
"""

from __future__ import annotations

import hashlib
import json

from ..datasets import check_source as check
from ..io import write_json
from ..noise import now
from . import logger

# The dataset fields the checks read, but run settings (cache_dir): the output's name follows them
# (contract.SOURCE_CHECK), so that a changed one makes a new check without touching the earlier.
# The rule's params print only these too: other dataset options rerun neither the check nor, through
# it, anything else.
CHECKED_FIELDS = ("name", "path", "class_names", "image_size", "channels")
# Part of the output's name: raised when a finished run's check must be made anew together with the
# data jobs after it. 2: the check's params lost its code digest (workflow/rules/data.smk), so a run
# finished before reran the check alone once, and Snakemake 9.27.1 would not ask the data jobs behind
# its ancient output whether their own params had changed in that invocation (a vote could then read
# a split older than the code and config its noise key names). A new name plans them in one invocation.
CHECK_FORMAT = 2


def check_id(dataset_cfg: dict) -> str:
    fields = {name: dataset_cfg.get(name) for name in CHECKED_FIELDS}
    named = json.dumps({"fields": fields, "format": CHECK_FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(named.encode()).hexdigest()[:16]


def check_source(dataset_cfg: dict, output_path: str) -> None:
    found = check(dataset_cfg)
    logger.info("data set checked before loading: %s", found)
    write_json(output_path, {"checked": found, "fields": {name: dataset_cfg.get(name) for name in CHECKED_FIELDS}, "time": now()})
