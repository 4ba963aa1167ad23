"""The base class of the diffusers APIs (stable_diffusion, diffusion_unet, consistency).

Their torch helpers (dtype, loading, pixels, per-sample generators) are in ``diffusion.py``,
which imports nothing of this package's registries.
"""

from __future__ import annotations

import logging
import time

from .. import PEError
from ..devices import resolve_device
from ..diffusion import MAX_DEGREE, resolve_dtype
from ..population import Population
from .base import API

logger = logging.getLogger("private_evolution")


class DiffusersAPI(API):
    """What both diffusers APIs share: device, dtype, lazy loading, batching."""

    needs_gpu = True
    max_degree = MAX_DEGREE

    def __init__(self, class_names: list[str], image_size: int, channels: int, options: dict):
        super().__init__(class_names, image_size, channels, options)
        self.model = options.get("model")
        if not self.model:
            raise PEError(f"{self.name}.model is required: a Hugging Face model id or a local folder")
        self.batch_size = int(options.get("batch_size", 8))
        self._loaded = None

    def _device_and_dtype(self):
        device = resolve_device(self.options.get("device", "auto"), f"api.{self.name}.device")
        return device, resolve_dtype(self.options.get("dtype", "auto"), device)

    @staticmethod
    def _unchanged(parents: Population) -> Population:
        """A degree that redoes no denoising step returns the parents as they are."""
        return Population(parents.images.copy(), parents.labels.copy(), dict(parents.state))

    def loaded(self):
        if self._loaded is None:
            started = time.perf_counter()
            self._loaded = self._load()
            seconds = time.perf_counter() - started
            logger.info("%s: loaded '%s' in %.1f s", self.name, self.model, seconds, extra={"load_seconds": seconds})
        return self._loaded
