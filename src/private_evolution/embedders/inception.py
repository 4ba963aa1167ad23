"""The inception embedder: clean-fid's Inception-v3 features, the network FID is defined with.

Its weights are downloaded once (or placed by hand) and checked, see ``inception.py``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import PublicError
from ..devices import torch_device
from ..inception import WEIGHTS_FILE, ensure_weights, weights_folder
from ..progress import Progress
from .base import Embedder

logger = logging.getLogger(__name__)


class CleanFidInception(Embedder):
    """2048-d features of clean-fid's TorchScript Inception-v3 after clean-fid's "clean" resize."""

    name = "inception"
    feature_dim = 2048
    frechet_prefix = "fid"  # FID is defined with this network (and clean-fid's resize)
    headline_rank = 0
    label = "Inception-v3"

    def __init__(self, options: dict):
        from cleanfid.inception_torchscript import InceptionV3W
        from cleanfid.resize import build_resizer

        super().__init__(options)
        self.batch_size = int(options.get("batch_size", 64))
        self.device = torch_device(options)
        folder = weights_folder(options.get("weights"))
        ensure_weights(folder, options.get("weights_sha256"))
        try:
            self.model = InceptionV3W(str(folder), download=False, resize_inside=False).to(self.device).eval()
        except Exception as err:
            raise PublicError(f"cannot load '{folder / WEIGHTS_FILE}' as clean-fid's TorchScript Inception: {err}") from err
        self.resize = build_resizer("clean")

    def embed(self, images: np.ndarray) -> np.ndarray:
        import torch

        features = np.empty((len(images), self.feature_dim), dtype=np.float32)
        progress = Progress(len(images), "inception (clean-fid) features", logger)
        with torch.inference_mode():
            for begin in range(0, len(images), self.batch_size):
                batch = images[begin : begin + self.batch_size]
                if batch.shape[-1] == 1:
                    batch = np.repeat(batch, 3, axis=-1)
                resized = np.stack([self.resize(image) for image in batch])  # float, 0..255, 299x299x3
                x = torch.from_numpy(resized).permute(0, 3, 1, 2).to(self.device)
                features[begin : begin + len(batch)] = self.model(x).float().cpu().numpy()
                progress.update(len(batch))
        return features

    @classmethod
    def evaluation_options(cls, exp) -> dict:
        """Its evaluation options live in evaluation.fid (weights, digest, batch size, device)."""
        fid = exp.evaluation.fid
        return {
            "name": cls.name,
            "weights": fid["weights_dir"],
            "weights_sha256": fid["weights_sha256"],
            "batch_size": fid["batch_size"],
            "device": fid["device"],
        }

    @classmethod
    def evaluated_iterations(cls, exp) -> list[int]:
        """evaluation.fid.iterations: final measures only the random and the final populations
        (Inception on CPU is the slowest step of a run)."""
        if exp.evaluation.fid["iterations"] == "final":
            return [0, exp.pe.iterations]
        return super().evaluated_iterations(exp)
