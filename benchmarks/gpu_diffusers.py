"""GPU check of the diffusers APIs: the vary stage against the raw UNet step rate, in one script.

    python benchmarks/gpu_diffusers.py --output benchmarks/GPU_DIFFUSERS.md          # on the GPU (a few minutes)
    python benchmarks/gpu_diffusers.py --tiny --output /tmp/x.md                     # smoke test on a CPU
    python benchmarks/gpu_diffusers.py --rows diffusion_unet --output /tmp/x.md      # some rows only

Rows (``--rows``; the first two by default):
  * ``diffusion_unet``: the paper's CIFAR-10 generator, improved diffusion's class-conditional
    ImageNet-64 model (preset ``imagenet64_cond_270M_250K``), as the real architecture the
    project runs (``ADMUNet2DModel``, adm_unet.py) with random weights, written as the folder
    ``convert_adm`` writes (unet/, scheduler/, adm_conversion.json; benchmarks/diffusers_models.py's
    ``save_adm``) and loaded by the API through its ``model`` option, as a converted checkpoint is.
    The stage runs the paper's batch (500) at degree 0.9 of 50 steps (45 steps per image): the
    paper's 100-step schedule at half the steps, so that it fits a short GPU lease; a batch's
    fixed work (noise, resizing, file I/O) is then spread over fewer steps, so the stage rate is,
    if anything, a little low for 100 steps. Also a raw sweep of batch sizes and dtypes.
  * ``stable_diffusion``: Stable Diffusion 1.5's full architecture with random weights.
  * ``diffusion_unet_unet2d`` (not by default): a stock ``UNet2DModel`` of about the 270M model's
    size (diffusers_models.py's ``imagenet64_270m``), an approximation of the architecture only.

For each row the model is built with random weights and saved, then:
  * raw: the UNet alone on a batch, timed over repeated calls (median, after one warm-up), in the
    dtype the API uses (``auto``: float16 on CUDA, float32 on the CPU); for Stable Diffusion the
    batch is doubled, as classifier-free guidance does;
  * stage: the real vary stage (``stages.vary.vary``: files in, files out) with the API loaded
    from the saved folder through the config path.
Both are counted in image-steps/s, one image-step being one denoising step of one output image;
their ratio is what the workflow keeps of the UNet's speed (target >= 0.85). Model loading is
outside both timings and reported apart. The table is rewritten after every row, and a row that
fails is reported as such without losing the others.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusers_models import parameter_count, save_adm, save_stable_diffusion, save_unet  # noqa: E402

ADM_PRESET = "imagenet64_cond_270M_250K"
# the 270M model's layout (fixed head count, legacy attention order, scale-shift norm, conv up/down,
# class-conditional, learned sigma, cosine schedule of 4,000 steps), shrunk for the CPU smoke test
TINY_ADM = dict(image_size=16, num_channels=32, num_res_blocks=1, channel_mult="1,2", attention_resolutions="8")

SETUPS = {
    # per row: the API, the model, dataset image size, parents varied, batch size, steps of a full trajectory, degree
    "full": {
        "diffusion_unet": dict(api="diffusion_unet", model="adm", preset=ADM_PRESET, image_size=32, images=1000,
                               batch=500, steps=50, degree=0.9, sweep=[(250, "float16"), (500, "float16"), (1000, "float16"),
                                                                      (500, "bfloat16"), (500, "float32")]),
        "stable_diffusion": dict(api="stable_diffusion", model="sd15", image_size=512, images=32, batch=16, steps=50,
                                 degree=0.6),
        "diffusion_unet_unet2d": dict(api="diffusion_unet", model="imagenet64_270m", image_size=32, images=2000, batch=500,
                                      steps=100, degree=0.6),
    },
    "tiny": {
        "diffusion_unet": dict(api="diffusion_unet", model="adm", preset=ADM_PRESET, overrides=TINY_ADM, image_size=16,
                               images=8, batch=4, steps=4, degree=0.5, sweep=[(2, "float32")]),
        "stable_diffusion": dict(api="stable_diffusion", model="tiny", image_size=32, images=4, batch=2, steps=4, degree=0.5),
        "diffusion_unet_unet2d": dict(api="diffusion_unet", model="tiny", image_size=16, images=8, batch=4, steps=4,
                                      degree=0.5),
    },
}
DEFAULT_ROWS = ("diffusion_unet", "stable_diffusion")


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


def _dtype(name: str):
    import torch

    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[name]


def measure(row: str, setup: dict, workdir: Path, device: str) -> dict:
    import torch

    from private_evolution.diffusion import resolve_dtype

    name = setup["api"]
    dtype = resolve_dtype("auto", device)
    folder = workdir / row
    if name == "stable_diffusion":
        save_stable_diffusion(folder, setup["model"])
        from diffusers import UNet2DConditionModel

        unet = UNet2DConditionModel.from_pretrained(str(folder), subfolder="unet", dtype=dtype)
        latent = setup["image_size"] // 8
        cross = unet.config.cross_attention_dim
        api_cfg = {"name": name, name: {"model": str(folder), "size": setup["image_size"], "variation_steps": setup["steps"],
                                        "batch_size": setup["batch"], "device": device}}
        per_image = 2  # classifier-free guidance: two UNet rows per image
        model = f"SD 1.5 {type(unet).__name__}" if setup["model"] == "sd15" else f"tiny {type(unet).__name__}"

        def make_inputs(batch, dtype=dtype):
            return {"sample": torch.randn(batch * per_image, 4, latent, latent, device=device, dtype=dtype),
                    "timestep": torch.tensor(500, device=device),
                    "encoder_hidden_states": torch.randn(batch * per_image, 77, cross, device=device, dtype=dtype)}
    else:
        if setup["model"] == "adm":
            from private_evolution import adm
            from private_evolution.adm_unet import ADMUNet2DModel

            record = save_adm(folder, setup["preset"], setup.get("overrides"), device=device)
            unet_class, subfolder = ADMUNet2DModel, {"subfolder": adm.UNET_FOLDER}
            model = f"{'tiny ' if setup.get('overrides') else ''}{record['model_class']} ({setup['preset']})"
        else:
            save_unet(folder, setup["model"], num_class_embeds=1000 if setup["model"] != "tiny" else 10,
                      learned_variance=setup["model"] != "tiny")
            from diffusers import UNet2DModel

            unet_class, subfolder = UNet2DModel, {}
            model = f"UNet2DModel ({setup['model']}, an approximation)"
        unet = unet_class.from_pretrained(str(folder), dtype=dtype, **subfolder)
        size = unet.config.sample_size
        api_cfg = {"name": name, name: {"model": str(folder), "steps": setup["steps"], "batch_size": setup["batch"],
                                        "device": device}}

        def make_inputs(batch, dtype=dtype):
            return {"sample": torch.randn(batch, 3, size, size, device=device, dtype=dtype),
                    "timestep": torch.tensor(500, device=device),
                    "class_labels": torch.randint(0, unet.config.num_class_embeds, (batch,), device=device)}

    tiny = setup["model"] == "tiny" or bool(setup.get("overrides"))
    unet = unet.to(device).eval()
    raw = raw_unet_rate(unet, make_inputs, setup["batch"], repeats=3 if tiny else 10)
    parameters = parameter_count(unet)
    sweep = []
    for batch, dtype_name in setup.get("sweep", []):
        other = _dtype(dtype_name)
        net = unet if other == dtype else unet.to(other)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        rate = raw_unet_rate(net, lambda b: make_inputs(b, other), batch, repeats=2 if tiny else 3)
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
        sweep.append({"batch": batch, "dtype": dtype_name, "rate": rate, "peak_gib": peak})
        print(f"  raw {row} batch {batch} {dtype_name}: {rate:.1f} image-steps/s, peak {_gib(peak)} GiB", flush=True)
        unet = net.to(dtype)
    del unet
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    # the vary stage loads the model itself, as every job does; the load is reported apart
    load_seconds, stage_seconds = run_stage(api_cfg, setup["image_size"], setup["images"], setup["degree"], workdir)
    stage_peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    steps_run = int(setup["steps"] * setup["degree"]) if name == "stable_diffusion" else round(setup["steps"] * setup["degree"])
    stage_rate = setup["images"] * steps_run / stage_seconds
    return {
        "api": name, "model": model, "parameters": parameters, "dtype": str(dtype).replace("torch.", ""),
        "batch": setup["batch"], "images": setup["images"], "steps": setup["steps"], "degree": setup["degree"],
        "steps_per_image": steps_run, "load_s": load_seconds, "stage_s": stage_seconds, "stage_rate": stage_rate,
        "raw_rate": raw, "ratio": stage_rate / raw, "stage_peak_gib": stage_peak, "sweep": sweep,
    }


def _gib(value: float) -> str:
    return "-" if value != value else f"{value:.1f}"  # NaN: not on a GPU


def render(rows: list[dict], failures: dict[str, str], header: str) -> str:
    lines = [
        header,
        "",
        "| API | model | UNet parameters | dtype | batch | images | steps/image (degree x steps) | load s | stage s "
        "| stage image-steps/s | raw UNet image-steps/s | ratio (target >= 0.85) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['api']} | {r['model']} | {r['parameters'] / 1e6:.1f}M | {r['dtype']} | {r['batch']} | {r['images']} | "
            f"{r['steps_per_image']} ({r['degree']:g} x {r['steps']}) | {r['load_s']:.1f} | {r['stage_s']:.1f} | "
            f"{r['stage_rate']:.1f} | {r['raw_rate']:.1f} | {r['ratio']:.2f} |"
        )
    for row, error in failures.items():
        lines.append(f"\n{row}: FAILED ({error})")
    for r in rows:
        if not r["sweep"]:
            continue
        lines += [
            "",
            f"### Raw UNet by batch and dtype: {r['model']}",
            "",
            "| batch | dtype | raw image-steps/s | peak GPU memory GiB |",
            "|---|---|---|---|",
            *[f"| {s['batch']} | {s['dtype']} | {s['rate']:.1f} | {_gib(s['peak_gib'])} |" for s in r["sweep"]],
            "",
            f"(the stage's peak GPU memory at batch {r['batch']}: {_gib(r['stage_peak_gib'])} GiB)",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny models on the CPU (checks the script works)")
    parser.add_argument("--rows", nargs="+", choices=list(SETUPS["full"]), default=list(DEFAULT_ROWS))
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "GPU_DIFFUSERS.md"))
    args = parser.parse_args()
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    setups = SETUPS["tiny" if args.tiny else "full"]
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    header = (
        f"## Diffusers APIs: vary stage vs raw UNet ({gpu}, torch {torch.__version__}, random weights)\n\n"
        f"Made by `python benchmarks/gpu_diffusers.py{' --tiny' if args.tiny else ''} --rows {' '.join(args.rows)}` "
        f"on {platform.node()}, {time.strftime('%Y-%m-%d %H:%M')}; one run."
    )
    rows, failures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for row in args.rows:
            started = time.perf_counter()
            try:
                rows.append(measure(row, setups[row], Path(tmp), device))
                print({k: v for k, v in rows[-1].items() if k != "sweep"}, f"({time.perf_counter() - started:.0f} s in all)",
                      flush=True)
            except Exception as err:  # one row's failure must not lose the others
                traceback.print_exc()
                failures[row] = f"{type(err).__name__}: {err}"
            Path(args.output).write_text(render(rows, failures, header))
    print(render(rows, failures, header))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
