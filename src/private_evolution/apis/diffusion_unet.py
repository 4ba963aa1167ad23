"""The diffusion_unet API: DDIM sampling for RANDOM_API, SDEdit for VARIATION_API, with any diffusers UNet2DModel.

A folder written by ``python -m private_evolution.convert_adm`` (OpenAI's ADM
checkpoints: improved-diffusion, guided-diffusion) loads as ``ADMUNet2DModel`` with
its own noise schedule, and is sampled as the reference code samples it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .. import PEError
from ..diffusion import (
    _Batches,
    check_degree,
    load_pretrained,
    sample_generators,
    to_dataset_pixels,
    to_model_pixels,
)
from ..population import Population
from .diffusers_api import DiffusersAPI

logger = logging.getLogger("private_evolution")


def _saved_class_name(folder: Path) -> str | None:
    """The ``_class_name`` of a local model folder's config.json (None when there is none)."""
    try:
        return json.loads((folder / "config.json").read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        return None


class DiffusionUNetAPI(DiffusersAPI):
    """DDIM sampling (RANDOM_API) and SDEdit variation with any diffusers UNet2DModel."""

    name = "diffusion_unet"

    def __init__(self, class_names, image_size, channels, options):
        super().__init__(class_names, image_size, channels, options)
        class_map = options.get("class_map")
        self.class_map = None
        if class_map is not None:
            missing = [name for name in self.class_names if not class_map.get(name)]
            extra = sorted(set(class_map) - set(self.class_names))
            if missing or extra:
                raise PEError(
                    f"{self.name}.class_map must give each of dataset.class_names a non-empty list of model "
                    f"classes (missing or empty: {missing}; not a dataset class: {extra})"
                )
            self.class_map = [[int(c) for c in class_map[name]] for name in self.class_names]

    scheduler_class = "DDIMScheduler"  # a diffusers scheduler class name

    def _scheduler(self, subfolder: str | None):
        """The scheduler: a saved pipeline's (its noise schedule) or diffusers' defaults, then the config's overrides."""
        import diffusers

        scheduler_class = getattr(diffusers, self.scheduler_class)
        scheduler_options = dict(self.options.get("scheduler") or {})
        if subfolder:
            base = load_pretrained(scheduler_class, self.model, "scheduler", subfolder="scheduler")
            return scheduler_class.from_config({**base.config, **scheduler_options})
        return scheduler_class(**scheduler_options)

    def _load(self):
        from diffusers import UNet2DModel

        device, dtype = self._device_and_dtype()
        subfolder = self.options.get("subfolder")
        local = Path(self.model).expanduser()
        unet_class, what = UNet2DModel, "UNet2DModel"
        adm_record = None
        if local.is_dir():
            from .. import adm

            adm_record = adm.read_record(local)
            if adm_record is not None and not subfolder:
                subfolder = adm.UNET_FOLDER  # a convert_adm folder: unet/ and scheduler/
            if _saved_class_name(local / (subfolder or "")) == adm.MODEL_CLASS:
                from ..adm_unet import ADMUNet2DModel

                unet_class, what = ADMUNet2DModel, adm.MODEL_CLASS
        extra = {"subfolder": subfolder} if subfolder else {}
        unet = load_pretrained(unet_class, self.model, what, dtype=dtype, **extra)
        unet = unet.to(device).eval()
        if adm_record is not None:
            logger.info(
                "%s: '%s' is %s converted from %s (sha256 %s), folder digest %s",
                self.name, self.model, unet_class.__name__, adm_record["source"]["name"], adm_record["source"]["sha256"][:16],
                adm_record["digest"][:16], extra={"model_digest": adm_record["digest"]},
            )
        # ADM models are sampled as the reference's DDIM samples them: epsilon re-derived from the clipped x0
        self._clipped_model_output = unet_class is not UNet2DModel
        scheduler = self._scheduler(subfolder)
        num_classes = unet.config.num_class_embeds
        if self.class_map is not None:
            if not num_classes:
                raise PEError(f"{self.name}.class_map is set but '{self.model}' is not class-conditional")
            bad = sorted({c for cs in self.class_map for c in cs if not 0 <= c < num_classes})
            if bad:
                raise PEError(f"{self.name}.class_map has model classes {bad} outside 0..{num_classes - 1}")
        return unet, scheduler, device, dtype, num_classes

    def _model_classes(self, labels: np.ndarray, seeds: np.ndarray, num_classes: int | None) -> np.ndarray:
        """Each sample's model class: from class_map, else uniform over the model's classes; -1 if unconditional."""
        if not num_classes:
            return np.full(len(labels), -1, dtype=np.int64)
        chosen = np.empty(len(labels), dtype=np.int64)
        for i, (seed, label) in enumerate(zip(seeds, labels)):
            rng = np.random.default_rng(int(seed))
            options = self.class_map[label] if self.class_map is not None else None
            chosen[i] = options[rng.integers(len(options))] if options else rng.integers(num_classes)
        return chosen

    def _denoise(self, start_pixels, model_classes: np.ndarray, seeds: np.ndarray, degree: float):
        """Noise ``start_pixels`` (or nothing, at degree 1 with no image) to the step set by the degree,
        then run DDIM (eta 0) to the end of the trajectory."""
        import torch

        unet, scheduler, device, dtype, num_classes = self.loaded()
        steps = int(self.options.get("steps", 100))
        scheduler.set_timesteps(steps, device=device)
        timesteps = scheduler.timesteps[steps - max(1, round(degree * steps)):]
        size, channels = unet.config.sample_size, unet.config.in_channels
        shape = (channels, size, size)
        noise = torch.stack([torch.randn(shape, generator=g) for g in sample_generators(seeds)]).to(device, dtype)
        if start_pixels is None:
            x = noise * scheduler.init_noise_sigma
        else:
            x = scheduler.add_noise(start_pixels * 2 - 1, noise, timesteps[:1].repeat(len(noise)))
        class_labels = torch.from_numpy(model_classes).to(device) if num_classes else None
        for t in timesteps:
            predicted = unet(x, t, class_labels=class_labels).sample
            if predicted.shape[1] == 2 * channels:  # learned variance (improved diffusion): keep epsilon
                predicted = predicted[:, :channels]
            x = scheduler.step(
                predicted, t, x, eta=0.0, use_clipped_model_output=self._clipped_model_output
            ).prev_sample.to(dtype)
        return (x.float() + 1) / 2

    def _redoes_anything(self, degree: float) -> bool:
        """Whether a variation of this degree redoes at least one step (else the parent comes back)."""
        return round(degree * int(self.options.get("steps", 100))) >= 1

    def network_calls(self, degree: float | None) -> int:
        """UNet calls per sample: of RANDOM_API (degree None) or of a variation of that degree."""
        steps = int(self.options.get("steps", 100))
        return steps if degree is None else (round(degree * steps) if self._redoes_anything(degree) else 0)

    def random_api(self, labels: np.ndarray, seeds: np.ndarray) -> Population:
        import torch

        num_classes = self.loaded()[4]
        model_classes = self._model_classes(labels, seeds, num_classes)
        images = np.empty((len(labels), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        with torch.inference_mode():
            for begin, end in _Batches(len(labels), self.batch_size, f"{self.name} RANDOM_API"):
                out = self._denoise(None, model_classes[begin:end], seeds[begin:end], 1.0)
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=np.asarray(labels, dtype=np.int64), state={"model_class": model_classes})

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        import torch

        check_degree(degree)
        if not self._redoes_anything(degree):
            return self._unchanged(parents)
        unet, _, device, dtype, num_classes = self.loaded()
        model_classes = parents.state.get("model_class")
        if model_classes is None:
            model_classes = self._model_classes(parents.labels, seeds, num_classes)
        images = np.empty_like(parents.images)
        with torch.inference_mode():
            for begin, end in _Batches(len(parents), self.batch_size, f"{self.name} VARIATION_API degree {degree:g}"):
                start = to_model_pixels(parents.images[begin:end], unet.config.sample_size, device, dtype)
                out = self._denoise(start, model_classes[begin:end], seeds[begin:end], degree)
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=parents.labels.copy(), state={"model_class": model_classes.copy()})
