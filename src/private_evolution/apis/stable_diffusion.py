"""The stable_diffusion API: text-to-image for RANDOM_API, image-to-image for VARIATION_API (PE "APIs 1")."""

from __future__ import annotations

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


class StableDiffusionAPI(DiffusersAPI):
    """Text-to-image (RANDOM_API) and image-to-image (VARIATION_API) with a Stable Diffusion pipeline."""

    name = "stable_diffusion"

    def __init__(self, class_names, image_size, channels, options):
        super().__init__(class_names, image_size, channels, options)
        prompts = options.get("prompts") or {}
        unknown = sorted(set(prompts) - set(self.class_names))
        if unknown:
            raise PEError(f"stable_diffusion.prompts names classes {unknown} that are not in dataset.class_names")
        template = options.get("prompt_template", "a photo of a {class_name}")
        self.prompts = []
        for name in self.class_names:
            given = prompts.get(name, template.format(class_name=name))
            self.prompts.append([given] if isinstance(given, str) else list(given))
        if any(not p for p in self.prompts):
            raise PEError("stable_diffusion.prompts: every class needs at least one prompt")
        self.size = int(options.get("size", 512))
        if self.size % 8:
            raise PEError(f"stable_diffusion.size must be a multiple of 8 (the VAE's factor), got {self.size}")

    def _load(self):
        from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

        device, dtype = self._device_and_dtype()
        text_to_image = load_pretrained(
            StableDiffusionPipeline, self.model, "Stable Diffusion pipeline",
            dtype=dtype, safety_checker=None, requires_safety_checker=False,
        ).to(device)
        # Same modules, second pipeline: no second copy of the weights.
        image_to_image = StableDiffusionImg2ImgPipeline(**text_to_image.components, requires_safety_checker=False)
        for pipe in (text_to_image, image_to_image):
            pipe.set_progress_bar_config(disable=True)
        return text_to_image, image_to_image, device, dtype

    def _call_arguments(self, labels, prompt_ids, seeds, begin, end) -> dict:
        return {
            "prompt": [self.prompts[labels[i]][prompt_ids[i]] for i in range(begin, end)],
            "negative_prompt": [self.options.get("negative_prompt", "")] * (end - begin),
            "guidance_scale": float(self.options.get("guidance_scale", 7.5)),
            "generator": sample_generators(seeds[begin:end]),
            "output_type": "pt",
        }

    def random_api(self, labels: np.ndarray, seeds: np.ndarray) -> Population:
        import torch

        text_to_image, _, _, _ = self.loaded()
        prompt_ids = np.array(
            [np.random.default_rng(int(s)).integers(len(self.prompts[label])) for s, label in zip(seeds, labels)],
            dtype=np.int64,
        )
        images = np.empty((len(labels), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        with torch.inference_mode():
            for begin, end in _Batches(len(labels), self.batch_size, "stable_diffusion RANDOM_API"):
                out = text_to_image(
                    height=self.size, width=self.size,
                    num_inference_steps=int(self.options.get("random_steps", 50)),
                    **self._call_arguments(labels, prompt_ids, seeds, begin, end),
                ).images
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=np.asarray(labels, dtype=np.int64), state={"prompt_id": prompt_ids})

    def network_calls(self, degree: float | None) -> int:
        """UNet steps per sample (each of a guided pair): of RANDOM_API (degree None) or of a
        variation of that degree (the image-to-image pipeline runs int(steps x degree))."""
        if degree is None:
            return int(self.options.get("random_steps", 50))
        return int(int(self.options.get("variation_steps", 50)) * degree)

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        import torch

        check_degree(degree)
        steps = int(self.options.get("variation_steps", 50))
        if self.network_calls(degree) < 1:  # the pipeline would run no step: the image stays as it is
            return self._unchanged(parents)
        _, image_to_image, device, dtype = self.loaded()
        prompt_ids = parents.state.get("prompt_id", np.zeros(len(parents), dtype=np.int64))
        images = np.empty_like(parents.images)
        with torch.inference_mode():
            for begin, end in _Batches(len(parents), self.batch_size, f"stable_diffusion VARIATION_API degree {degree:g}"):
                out = image_to_image(
                    image=to_model_pixels(parents.images[begin:end], self.size, device, dtype),
                    strength=float(degree), num_inference_steps=steps,
                    **self._call_arguments(parents.labels, prompt_ids, seeds, begin, end),
                ).images
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=parents.labels.copy(), state={"prompt_id": prompt_ids.copy()})
