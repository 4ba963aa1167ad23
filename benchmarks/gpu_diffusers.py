"""GPU check of the diffusers APIs: the vary stage against the raw UNet step rate, in one script.

    python benchmarks/gpu_diffusers.py --output benchmarks/GPU_DIFFUSERS.md          # on the GPU (< 5 min)
    python benchmarks/gpu_diffusers.py --tiny --output /tmp/x.md                     # smoke test on a CPU

For each API the full architecture is built with random weights and saved
(benchmarks/diffusers_models.py), then:
  * raw: the UNet alone on a batch of latents, timed over repeated steps
    (for Stable Diffusion the batch is doubled, as classifier-free guidance does);
  * stage: the real vary stage (``stages.vary.vary``: files in, files out)
    with the API loaded from the saved folder through the config path.
Both are counted in image-steps/s, one image-step being one denoising step of
one output image; their ratio is what the workflow keeps of the UNet's speed
(target >= 0.85). Model loading is outside both timings and reported apart.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusers_models import parameter_count, save_stable_diffusion, save_unet  # noqa: E402

SETUPS = {
    # per API: dataset image size, parents varied, batch size, steps of a full trajectory, degree, architecture
    "full": {
        "stable_diffusion": dict(image_size=512, images=32, batch=16, steps=50, degree=0.6, model_size="sd15"),
        "diffusion_unet": dict(image_size=32, images=2000, batch=500, steps=100, degree=0.6, model_size="imagenet64_270m"),
    },
    "tiny": {
        "stable_diffusion": dict(image_size=32, images=4, batch=2, steps=4, degree=0.5, model_size="tiny"),
        "diffusion_unet": dict(image_size=16, images=8, batch=4, steps=4, degree=0.5, model_size="tiny"),
    },
}


def synchronize():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def raw_unet_rate(unet, make_inputs, batch: int, repeats: int) -> float:
    """Image-steps/s of the UNet alone: median over ``repeats`` timed calls after one warm-up."""
    import torch

    inputs = make_inputs(batch)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            synchronize()
            start = time.perf_counter()
            unet(**inputs)
            synchronize()
            if i:
                times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


class _LoadTimes(logging.Handler):
    """Collects the load time the APIs log, to take it off the stage's wall time."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def emit(self, record):
        if hasattr(record, "load_seconds"):
            self.seconds.append(record.load_seconds)


def run_stage(api_cfg: dict, image_size: int, images: int, degree: float, workdir: Path) -> tuple[float, float]:
    """(model load seconds, stage seconds without the load) of the real vary stage on ``images`` parents."""
    from private_evolution.io import Population, save_npz, save_population
    from private_evolution.stages import vary as vary_stage

    rng = np.random.default_rng(0)
    parents = Population(rng.integers(0, 256, (images, image_size, image_size, 3), dtype=np.uint8), np.arange(images) % 10)
    save_population(workdir / "parents.npz", parents)
    save_npz(workdir / "selected.npz", parent_ids=np.arange(images))
    target = {"class_names": [str(c) for c in range(10)], "image_size": image_size, "channels": 3}
    loads = _LoadTimes()
    logger = logging.getLogger("private_evolution")
    logger.setLevel(logging.INFO)
    logger.addHandler(loads)
    try:
        synchronize()
        start = time.perf_counter()
        vary_stage.vary(api_cfg, target, str(workdir / "parents.npz"), str(workdir / "selected.npz"), degree, 1, 1.0, 0,
                        str(workdir / "children.npz"))
        synchronize()
        total = time.perf_counter() - start
    finally:
        logger.removeHandler(loads)
    return loads.seconds[0], total - loads.seconds[0]


def measure(name: str, setup: dict, workdir: Path, device: str) -> dict:
    import torch

    from private_evolution.diffusion import resolve_dtype

    dtype = resolve_dtype("auto", device)
    folder = workdir / name
    if name == "stable_diffusion":
        save_stable_diffusion(folder, setup["model_size"])
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet", dtype=dtype)
        latent = setup["image_size"] // 8
        cross = unet.config.cross_attention_dim
        api_cfg = {"name": name, name: {"model": str(folder), "size": setup["image_size"], "variation_steps": setup["steps"],
                                        "batch_size": setup["batch"], "device": device}}
        per_image = 2  # classifier-free guidance: two UNet rows per image

        def make_inputs(batch):
            return {"sample": torch.randn(batch * per_image, 4, latent, latent, device=device, dtype=dtype),
                    "timestep": torch.tensor(500, device=device),
                    "encoder_hidden_states": torch.randn(batch * per_image, 77, cross, device=device, dtype=dtype)}
    else:
        save_unet(folder, setup["model_size"], num_class_embeds=1000 if setup["model_size"] != "tiny" else 10,
                  learned_variance=setup["model_size"] != "tiny")
        from diffusers import UNet2DModel

        unet = UNet2DModel.from_pretrained(str(folder), dtype=dtype)
        size = unet.config.sample_size
        api_cfg = {"name": name, name: {"model": str(folder), "steps": setup["steps"], "batch_size": setup["batch"],
                                        "device": device}}

        def make_inputs(batch):
            return {"sample": torch.randn(batch, 3, size, size, device=device, dtype=dtype),
                    "timestep": torch.tensor(500, device=device),
                    "class_labels": torch.randint(0, unet.config.num_class_embeds, (batch,), device=device)}

    unet = unet.to(device).eval()
    raw = raw_unet_rate(unet, make_inputs, setup["batch"], repeats=3 if setup["model_size"] == "tiny" else 10)
    parameters = parameter_count(unet)
    del unet
    if device == "cuda":
        torch.cuda.empty_cache()
    # the vary stage loads the model itself, as every job does; the load is reported apart
    load_seconds, stage_seconds = run_stage(api_cfg, setup["image_size"], setup["images"], setup["degree"], workdir)
    steps_run = int(setup["steps"] * setup["degree"]) if name == "stable_diffusion" else round(setup["steps"] * setup["degree"])
    stage_rate = setup["images"] * steps_run / stage_seconds
    return {
        "api": name, "parameters": parameters, "dtype": str(dtype).replace("torch.", ""), "batch": setup["batch"],
        "images": setup["images"], "steps_per_image": steps_run, "load_s": load_seconds, "stage_s": stage_seconds,
        "stage_rate": stage_rate, "raw_rate": raw, "ratio": stage_rate / raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models on the CPU (checks the script works)")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "GPU_DIFFUSERS.md"))
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    setups = SETUPS["tiny" if args.tiny else "full"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, setup in setups.items():
            rows.append(measure(name, setup, Path(tmp), device))
            print(rows[-1], flush=True)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    lines = [
        f"## Diffusers APIs: vary stage vs raw UNet ({gpu}, torch {torch.__version__}, random weights)",
        "",
        "| API | UNet parameters | dtype | batch | images | steps/image | load s | stage s | stage image-steps/s | raw UNet image-steps/s | ratio (target >= 0.85) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['api']} | {r['parameters'] / 1e6:.0f}M | {r['dtype']} | {r['batch']} | {r['images']} | {r['steps_per_image']} | "
            f"{r['load_s']:.1f} | {r['stage_s']:.1f} | {r['stage_rate']:.1f} | {r['raw_rate']:.1f} | {r['ratio']:.2f} |"
        )
    Path(args.output).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
