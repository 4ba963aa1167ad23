"""Stage train_feature_classifier: the CNN whose penultimate layer is the "classifier" feature space.

It is trained on the held-out validation part (real images that are neither private nor the
test part): a feature space for FD, precision and recall that suits small grayscale images
and that the vote never used. Not DP, and never used by the vote.
"""

from __future__ import annotations

import numpy as np

from ..classifier import save_feature_classifier
from ..io import load_images
from . import logger


def train_feature_classifier(validation_path: str, num_classes: int, options: dict, output_path: str) -> None:
    images, labels = load_images(validation_path)
    save_feature_classifier(
        output_path, images, labels.astype(np.int64), num_classes, options["epochs"], options["seed"]
    )
    logger.info("feature classifier trained on %d validation images (%d epochs)", len(images), options["epochs"])
