"""Stage prepare_private: load the private data set and split off the held-out set.

The two splits are written by separate jobs (rules prepare_private and prepare_heldout):
the private split does not depend on ``num_heldout`` (the held-out images come after the
private ones in the same seeded permutation), so changing the held-out size or anything
about evaluation never reruns the private set's consumers, the vote chain.
"""

from __future__ import annotations

from .. import PEError
from ..datasets import load_dataset, split_private_heldout
from ..io import save_images, write_json
from ..preparation import next_preparation
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
    """Write the private split, the held-out test split and / or the validation split, and with
    ``preparation_path`` (under private/) the id of this preparation, counted in the data set's
    ledger (``ledger_private``) for ``experiment``, with random bits (preparation.next_preparation): it names the votes'
    draws, so that every preparation draws anew, whether or not the data changed."""
    data = load_dataset(dataset_cfg)
    if preparation_path:
        if "/private/" not in str(preparation_path).replace("\\", "/"):
            raise ValueError(f"the preparation id names the private data's noise draws: it belongs under private/, not '{preparation_path}'")
        if not (ledger_private and experiment):
            raise ValueError("a preparation id is counted in the data set's ledger: give ledger_private and experiment")
        preparation = next_preparation(ledger_private, experiment)
        write_json(preparation_path, {**preparation, "note": "names this preparation's noise draws: never publish"})
    if data.class_names != dataset_cfg["class_names"]:
        raise PEError(
            f"the data's classes {data.class_names} differ from dataset.class_names {dataset_cfg['class_names']}"
        )
    num_heldout = dataset_cfg["num_heldout"] if heldout_path or validation_path else 0
    num_validation = dataset_cfg.get("num_validation", 0) if validation_path else 0
    private, heldout, *validation = split_private_heldout(
        data, dataset_cfg["num_private"], num_heldout, dataset_cfg["split_seed"], num_validation,
        official=dataset_cfg.get("split", "official") == "official",
    )
    if private_path:
        save_images(private_path, private.images, private.labels)
        logger.info("private set: %d images", len(private.images))
    if heldout_path:
        save_images(heldout_path, heldout.images, heldout.labels)
        logger.info("held-out test set: %d images", len(heldout.images))
    if validation_path:
        save_images(validation_path, validation[0].images, validation[0].labels)
        logger.info("held-out validation set: %d images", len(validation[0].images))
