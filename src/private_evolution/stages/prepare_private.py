"""Stage prepare_private: load the private data set and split off the held-out set.

The two splits are written by separate jobs (rules prepare_private and prepare_heldout):
the private split does not depend on ``num_heldout`` (the held-out images come after the
private ones in the same seeded permutation), so changing the held-out size or anything
about evaluation never reruns the private set's consumers, the vote chain.
"""

from __future__ import annotations

from .. import PEError
from ..datasets import FINGERPRINT_FIELD, fingerprint, load_dataset, split_private_heldout
from ..io import save_images, write_json
from . import logger


def prepare_private(
    dataset_cfg: dict,
    private_path: str | None,
    heldout_path: str | None,
    validation_path: str | None = None,
    fingerprint_path: str | None = None,
) -> None:
    """Write the private split, the held-out test split and / or the validation split, and with
    ``fingerprint_path`` (under private/) the loaded data set's fingerprint."""
    data = load_dataset(dataset_cfg)
    if fingerprint_path:
        if "/private/" not in str(fingerprint_path).replace("\\", "/"):
            raise ValueError(f"the data fingerprint identifies the private data: it belongs under private/, not '{fingerprint_path}'")
        write_json(fingerprint_path, {FINGERPRINT_FIELD: fingerprint(data), "note": "identifies the private data: never publish"})
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
