"""Foundation-model APIs through diffusers (PE "APIs 1"): Stable Diffusion and any UNet2DModel.

``stable_diffusion``: RANDOM_API is text-to-image from per-class prompts;
VARIATION_API is image-to-image whose ``strength`` is the variation degree.
``diffusion_unet``: RANDOM_API denoises pure noise with DDIM; VARIATION_API
noises a sample to the point of the trajectory set by the degree and denoises
it back (SDEdit). In both, degree d in [0, 1] is the fraction of the
denoising trajectory that is redone: 1 forgets the parent, 0 keeps it.

Every sample has its own seed: its initial noise and its prompt (or model
class) come from a generator seeded with it, so a sample does not depend on
which other samples share its batch or shard. Weights load lazily, on the
first call, so that checking a config never touches the model.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import PEError
from .io import Population

logger = logging.getLogger("private_evolution")

# Variation degrees of these APIs are fractions of a denoising trajectory.
MAX_DEGREE = 1.0


def resolve_dtype(requested: str, device: str):
    """``auto``: float16 on CUDA (half the memory, tensor cores), float32 on the CPU."""
    import torch

    if requested == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    if requested in ("float16", "bfloat16") and device == "cpu":
        raise PEError(f"dtype {requested} is for CUDA; use auto or float32 on the CPU")
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[requested]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def missing_model_message(model: str, what: str, err: Exception) -> str:
    from huggingface_hub import constants

    return (
        f"cannot load the {what} '{model}': it is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) "
        + ("and HF_HUB_OFFLINE is set, so no download was tried. " if hub_offline() else
           f"and could not be downloaded ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). ") +
        f"On a machine with internet access run `hf download {model}` (older huggingface_hub: "
        "`huggingface-cli download`), copy its cache folder here and point HF_HOME at it; or save the "
        "model with save_pretrained and set the API's `model` option to that local folder. "
        "HF_HUB_OFFLINE=1 skips the download attempt."
    )


def load_pretrained(loader, model: str, what: str, **kwargs):
    """``loader.from_pretrained`` for a local folder or a hub id, with errors that say how to fix them.

    A hub id is looked up in the local cache first, so an offline machine with a
    filled cache never waits on the network.
    """
    local = Path(model).expanduser()
    if local.exists():
        try:
            return loader.from_pretrained(str(local), **kwargs)
        except (OSError, ValueError, KeyError) as err:
            raise PEError(
                f"cannot load the {what} from the local folder '{local}': {err}. It must be a folder written "
                "by diffusers' save_pretrained (model_index.json or config.json plus weights)"
            ) from err
    try:
        return loader.from_pretrained(model, local_files_only=True, **kwargs)
    except (OSError, ValueError) as cached_err:
        if hub_offline():
            raise PEError(missing_model_message(model, what, cached_err)) from cached_err
    try:
        return loader.from_pretrained(model, **kwargs)
    except Exception as err:  # network, authentication, missing files: all mean "not available here"
        raise PEError(missing_model_message(model, what, err)) from err


def sample_generators(seeds: np.ndarray) -> list:
    """One CPU torch generator per sample: the same noise on every device and batch size."""
    import torch

    return [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]


def to_model_pixels(images: np.ndarray, size: int, device: str, dtype):
    """uint8 (N, H, W, C) -> float (N, 3, size, size) in [0, 1] for a model that works at ``size``."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    return x.to(device=device, dtype=dtype)


def to_dataset_pixels(x, image_size: int, channels: int) -> np.ndarray:
    """float (N, 3, h, w) in [0, 1] -> uint8 (N, image_size, image_size, channels)."""
    import torch
    import torch.nn.functional as F

    x = x.float().clamp(0, 1)
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    if channels == 1:
        # ITU-R BT.601 luma, as PIL's convert("L")
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    pixels = (x.clamp(0, 1) * 255.0).round().to(dtype=torch.uint8)
    return pixels.permute(0, 2, 3, 1).cpu().numpy()


def check_degree(degree: float) -> None:
    if not 0.0 <= degree <= MAX_DEGREE:
        raise PEError(f"diffusion variation degrees are fractions of the trajectory in [0, 1], got {degree}")


class _Batches:
    """Batched generation with a tqdm bar (images/s) on stderr and a summary line in the log."""

    def __init__(self, total: int, batch_size: int, what: str):
        from tqdm import tqdm

        self.total, self.batch_size, self.what = total, batch_size, what
        self.bar = tqdm(
            total=total, desc=what, unit="img", file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 10.0
        )
        self.start = time.perf_counter()

    def __iter__(self):
        for begin in range(0, self.total, self.batch_size):
            end = min(begin + self.batch_size, self.total)
            yield begin, end
            self.bar.update(end - begin)
        self.bar.close()
        seconds = time.perf_counter() - self.start
        logger.info("%s: %d images in %.1f s (%.2f images/s)", self.what, self.total, seconds, self.total / max(seconds, 1e-9))


class _DiffusersAPI:
    """What both diffusers APIs share: device, dtype, lazy loading, batching."""

    max_degree = MAX_DEGREE

    def __init__(self, class_names: list[str], image_size: int, channels: int, options: dict):
        self.class_names = list(class_names)
        self.image_size, self.channels = image_size, channels
        self.options = dict(options)
        self.model = options.get("model")
        if not self.model:
            raise PEError(f"{self.name}.model is required: a Hugging Face model id or a local folder")
        self.batch_size = int(options.get("batch_size", 8))
        self._loaded = None

    def _device_and_dtype(self):
        from .embedders import resolve_device

        device = resolve_device(self.options.get("device", "auto"))
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


class StableDiffusionAPI(_DiffusersAPI):
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

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        import torch

        check_degree(degree)
        steps = int(self.options.get("variation_steps", 50))
        if int(steps * degree) < 1:  # the pipeline would run no step: the image stays as it is
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


class DiffusionUNetAPI(_DiffusersAPI):
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
                    f"diffusion_unet.class_map must give each of dataset.class_names a non-empty list of model "
                    f"classes (missing or empty: {missing}; not a dataset class: {extra})"
                )
            self.class_map = [[int(c) for c in class_map[name]] for name in self.class_names]

    def _load(self):
        from diffusers import DDIMScheduler, UNet2DModel

        device, dtype = self._device_and_dtype()
        subfolder = self.options.get("subfolder")
        extra = {"subfolder": subfolder} if subfolder else {}
        unet = load_pretrained(UNet2DModel, self.model, "UNet2DModel", dtype=dtype, **extra)
        unet = unet.to(device).eval()
        scheduler_options = dict(self.options.get("scheduler") or {})
        if subfolder:
            # a saved pipeline: the noise schedule it was trained with, then the config's overrides
            base = load_pretrained(DDIMScheduler, self.model, "scheduler", subfolder="scheduler")
            scheduler = DDIMScheduler.from_config({**base.config, **scheduler_options})
        else:
            scheduler = DDIMScheduler(**scheduler_options)
        num_classes = unet.config.num_class_embeds
        if self.class_map is not None:
            if not num_classes:
                raise PEError(f"diffusion_unet.class_map is set but '{self.model}' is not class-conditional")
            bad = sorted({c for cs in self.class_map for c in cs if not 0 <= c < num_classes})
            if bad:
                raise PEError(f"diffusion_unet.class_map has model classes {bad} outside 0..{num_classes - 1}")
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
            x = scheduler.step(predicted, t, x, eta=0.0).prev_sample.to(dtype)
        return (x.float() + 1) / 2

    def random_api(self, labels: np.ndarray, seeds: np.ndarray) -> Population:
        import torch

        num_classes = self.loaded()[4]
        model_classes = self._model_classes(labels, seeds, num_classes)
        images = np.empty((len(labels), self.image_size, self.image_size, self.channels), dtype=np.uint8)
        with torch.inference_mode():
            for begin, end in _Batches(len(labels), self.batch_size, "diffusion_unet RANDOM_API"):
                out = self._denoise(None, model_classes[begin:end], seeds[begin:end], 1.0)
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=np.asarray(labels, dtype=np.int64), state={"model_class": model_classes})

    def variation_api(self, parents: Population, degree: float, seeds: np.ndarray) -> Population:
        import torch

        check_degree(degree)
        if round(degree * int(self.options.get("steps", 100))) < 1:
            return self._unchanged(parents)
        unet, _, device, dtype, num_classes = self.loaded()
        model_classes = parents.state.get("model_class")
        if model_classes is None:
            model_classes = self._model_classes(parents.labels, seeds, num_classes)
        images = np.empty_like(parents.images)
        with torch.inference_mode():
            for begin, end in _Batches(len(parents), self.batch_size, f"diffusion_unet VARIATION_API degree {degree:g}"):
                start = to_model_pixels(parents.images[begin:end], unet.config.sample_size, device, dtype)
                out = self._denoise(start, model_classes[begin:end], seeds[begin:end], degree)
                images[begin:end] = to_dataset_pixels(out, self.image_size, self.channels)
        return Population(images=images, labels=parents.labels.copy(), state={"model_class": model_classes.copy()})
