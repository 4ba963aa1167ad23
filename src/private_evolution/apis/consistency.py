"""The consistency API: one-step variations with a consistency model (beyond the PE paper).

Consistency models distilled from ADM (Song et al. 2023; diffusers' ``ConsistencyModelPipeline``
with ``CMStochasticIterativeScheduler``, e.g. the class-conditional ImageNet-64 ones, the
same UNet family as the paper's generator) map a noisy image to a clean one in one network
call. VARIATION_API noises a sample to the noise level of the degree and maps it back in
that one call, where DDIM SDEdit (``diffusion_unet``) makes round(degree x steps) calls;
RANDOM_API samples in one call (or in as many as ``random_timesteps`` lists).

The degree d picks the scheduler's training discretization point
t = round((1 - d) x (num_train_timesteps - 1)), whose Karras noise level runs from
sigma_max (d = 1: the parent is forgotten) to sigma_min (d = 0: the parent comes back).
"""

from __future__ import annotations

import numpy as np

from ..diffusion import sample_generators
from .diffusion_unet import DiffusionUNetAPI

_SHARED_OPTIONS = {
    "model": {"type": ["string", "null"], "default": None},
    "subfolder": {"type": ["string", "null"], "default": None},
    "class_map": {
        "type": ["object", "null"],
        "default": None,
        "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
    },
    "scheduler": {"type": "object", "default": {}},
    "batch_size": {"type": "integer", "minimum": 1, "default": 64},
    "dtype": {"type": "string", "enum": ["auto", "float16", "bfloat16", "float32"], "default": "auto"},
    "device": {"type": "string", "enum": ["auto", "cpu", "cuda"], "default": "auto"},
}


class ConsistencyAPI(DiffusionUNetAPI):
    """One consistency step per variation (noise to the degree's level, map back); 1-2 steps per random sample."""

    name = "consistency"
    scheduler_class = "CMStochasticIterativeScheduler"
    options_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **_SHARED_OPTIONS,
            # the scheduler's custom timesteps (descending) of RANDOM_API: [0] is one step from
            # sigma_max; diffusers' two-step example for the ImageNet-64 models is [22, 0]
            "random_timesteps": {
                "type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}, "default": [0],
            },
        },
    }

    def _variation_timestep(self, degree: float, num_train_timesteps: int) -> int:
        return round((1.0 - degree) * (num_train_timesteps - 1))

    def _redoes_anything(self, degree: float) -> bool:
        steps = self.loaded()[1].config.num_train_timesteps
        return self._variation_timestep(degree, steps) < steps - 1

    def network_calls(self, degree: float | None) -> int:
        """UNet calls per sample: of RANDOM_API (degree None) or of a variation of that degree."""
        if degree is None:
            return len(self.options.get("random_timesteps") or [0])
        return 1 if self._redoes_anything(degree) else 0

    def _denoise(self, start_pixels, model_classes: np.ndarray, seeds: np.ndarray, degree: float):
        """RANDOM_API's consistency steps from pure noise, or one step from ``start_pixels`` noised to the degree's level."""
        import torch

        unet, scheduler, device, dtype, num_classes = self.loaded()
        if start_pixels is None:
            timesteps = [int(t) for t in self.options.get("random_timesteps") or [0]]
        else:
            timesteps = [self._variation_timestep(degree, scheduler.config.num_train_timesteps)]
        scheduler.set_timesteps(timesteps=timesteps, device=device)
        size, channels = unet.config.sample_size, unet.config.in_channels
        generators = sample_generators(seeds)
        noise = torch.stack([torch.randn((channels, size, size), generator=g) for g in generators]).to(device, dtype)
        x = noise * scheduler.sigmas[0].to(device, dtype)
        if start_pixels is not None:
            x = x + (start_pixels * 2 - 1)
        class_labels = torch.from_numpy(model_classes).to(device) if num_classes else None
        for t in scheduler.timesteps:
            scaled = scheduler.scale_model_input(x, t)
            predicted = unet(scaled.to(dtype), t, class_labels=class_labels).sample
            if predicted.shape[1] == 2 * channels:
                predicted = predicted[:, :channels]
            # the noise between multistep steps comes from each sample's own generator
            x = scheduler.step(predicted, t, x, generator=generators).prev_sample.to(dtype)
        return (x.float() + 1) / 2
