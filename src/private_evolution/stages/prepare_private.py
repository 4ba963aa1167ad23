"""Stage prepare_private: load the private data set and split off the held-out set.

The two splits are written by separate jobs (rules prepare_private and prepare_heldout):
the private split does not depend on ``num_heldout`` (the held-out images come from the end of
the seeded permutation, the private ones from its start), so changing the held-out size or
anything about evaluation never reruns the private set's consumers, the vote chain. Each job
records its part's indices in the data set's ledger (split_ledger.py), which refuses a private
record that any experiment evaluates on, or the reverse.
"""

from __future__ import annotations

import numpy as np

from .. import PEError
from ..datasets import LabelledImages, load_dataset, split_of
from ..io import save_images, write_json
from ..preparation import next_preparation
from ..split_ledger import EVALUATION, PRIVATE, record_names, record_parts
from . import logger


def prepare_private(
    dataset_cfg: dict,
    private_path: str | None,
    heldout_path: str | None,
    validation_path: str | None = None,
    preparation_path: str | None = None,
    ledger_private: str | None = None,
    experiment: str | None = None,
) -> None:
    """Write the private split, the held-out test split and / or the validation split (with
    ``ledger_private`` and ``experiment``, each part's records checked and recorded in the data
    set's ledger first: split_ledger.record_parts), and with
    ``preparation_path`` (under private/) the id of this preparation, counted in the data set's
    ledger (``ledger_private``) for ``experiment``, with random bits (preparation.next_preparation): it names the votes'
    draws, so that every preparation draws anew, whether or not the data changed."""
    data = load_dataset(dataset_cfg)
    if data.class_names != dataset_cfg["class_names"]:
        raise PEError(
            f"the data's classes {data.class_names} differ from dataset.class_names {dataset_cfg['class_names']}"
        )
    # All three sizes (the private job receives them, though its rerun key leaves the evaluation
    # sizes out: its part, the permutation's start, does not depend on them)
    private_ids, heldout_ids, validation_ids = split_of(data, dataset_cfg)
    if ledger_private and experiment:
        # checked by check_split before this job started; again here, before this job counts a
        # preparation or writes a file, for a ledger changed since (split_ledger.py)
        parts = {}
        if private_path:
            parts[PRIVATE] = record_names(private_ids, data.record_names)
        written = [ids for ids, path in ((heldout_ids, heldout_path), (validation_ids, validation_path)) if path]
        if written:
            parts[EVALUATION] = record_names(np.concatenate(written), data.record_names)
        record_parts(ledger_private, experiment, parts)
    if preparation_path:
        if "/private/" not in str(preparation_path).replace("\\", "/"):
            raise ValueError(f"the preparation id names the private data's noise draws: it belongs under private/, not '{preparation_path}'")
        if not (ledger_private and experiment):
            raise ValueError("a preparation id is counted in the data set's ledger: give ledger_private and experiment")
        preparation = next_preparation(ledger_private, experiment)
        write_json(preparation_path, {**preparation, "note": "names this preparation's noise draws: never publish"})
    # A class with no private sample is not an error: its candidates get an empty histogram and
    # the vote runs as for any other. Checking would make the run's fate (and a message naming the
    # class) depend on the private labels.
    private, heldout, validation = (
        LabelledImages(data.images[ids], data.labels[ids], data.class_names) for ids in (private_ids, heldout_ids, validation_ids)
    )
    if private_path:
        save_images(private_path, private.images, private.labels)
        logger.info("private set: %d images", len(private.images))
    if heldout_path:
        save_images(heldout_path, heldout.images, heldout.labels)
        logger.info("held-out test set: %d images", len(heldout.images))
    if validation_path:
        save_images(validation_path, validation.images, validation.labels)
        logger.info("held-out validation set: %d images", len(validation.images))
