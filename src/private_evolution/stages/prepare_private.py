"""Stage prepare_private: load the private data set and split off the held-out set."""

from __future__ import annotations

from .. import PEError
from ..datasets import load_dataset, split_private_heldout
from ..io import save_npz
from . import logger


def prepare_private(dataset_cfg: dict, private_path: str, heldout_path: str) -> None:
    data = load_dataset(dataset_cfg)
    if data.class_names != dataset_cfg["class_names"]:
        raise PEError(
            f"the data's classes {data.class_names} differ from dataset.class_names {dataset_cfg['class_names']}"
        )
    private, heldout = split_private_heldout(
        data, dataset_cfg["num_private"], dataset_cfg["num_heldout"], dataset_cfg["split_seed"]
    )
    save_npz(private_path, images=private.images, labels=private.labels)
    save_npz(heldout_path, images=heldout.images, labels=heldout.labels)
    logger.info("private set: %d images; held-out set: %d images", len(private.images), len(heldout.images))
