"""Network calls per variation: DDIM SDEdit (diffusion_unet) against one consistency step (consistency).

    python benchmarks/calls.py             # writes benchmarks/CALLS.md (about a minute on one core)
    python benchmarks/calls.py --quick     # the first and last degree only

At the PE paper's CIFAR-10 degrees (20 iterations, linear from 0.98 to 0.60 of a
100-step DDIM trajectory), each API's variation is run on a tiny random-weight
UNet2DModel and its UNet forward calls are counted with a hook: the count depends
on the API and the degree, not on the model, so the table holds for the 270M model.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusers_models import save_unet  # noqa: E402

from private_evolution.apis import make_api  # noqa: E402
from private_evolution.schedule import variation_degrees  # noqa: E402
from private_evolution.seeding import per_sample_seeds  # noqa: E402

DDIM_STEPS = 100
PAPER_SCHEDULE = {"kind": "linear", "start": 0.98, "end": 0.60}
PAPER_ITERATIONS = 20


def counted_calls(api, degree: float | None, parents=None) -> int:
    """UNet forward calls for one sample: RANDOM_API (degree None) or one variation of ``parents``."""
    unet = api.loaded()[0]
    calls = []
    handle = unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    try:
        if degree is None:
            api.random_api(np.array([0]), per_sample_seeds(0, 1, "random"))
        else:
            api.variation_api(parents, degree, per_sample_seeds(0, 1, "variation"))
    finally:
        handle.remove()
    return sum(calls)


def rows(degrees: list[float], folder: Path):
    common = {"model": str(folder), "batch_size": 1, "device": "cpu", "dtype": "float32"}
    ddim = make_api({"name": "diffusion_unet", "diffusion_unet": {**common, "steps": DDIM_STEPS}}, ["x"], 16, 3)
    consistency = make_api({"name": "consistency", "consistency": common}, ["x"], 16, 3)
    parents = consistency.random_api(np.array([0]), per_sample_seeds(0, 1, "random"))
    yield "RANDOM_API", counted_calls(ddim, None), counted_calls(consistency, None)
    for degree in degrees:
        found = counted_calls(ddim, degree, parents), counted_calls(consistency, degree, parents)
        assert found == (ddim.network_calls(degree), consistency.network_calls(degree))
        yield f"{degree:.2f}", *found


def render(table: list[tuple], degrees: list[float]) -> str:
    lines = [
        "# Network calls per variation: DDIM (diffusion_unet) vs one consistency step (consistency)",
        "",
        "`python benchmarks/calls.py` counts UNet forward calls per sample with a hook, on a tiny",
        "random-weight UNet (the count depends on the API and the degree, not on the model). Degrees:",
        f"the PE paper's CIFAR-10 schedule, {PAPER_ITERATIONS} iterations linear from 0.98 to 0.60 of a",
        f"{DDIM_STEPS}-step DDIM trajectory (`diffusion_unet.steps: {DDIM_STEPS}`, round(degree x steps) calls);",
        "`consistency` noises to the degree's level and maps back in one call (`random_timesteps: [0]`:",
        "one call per random sample; `[22, 0]`, diffusers' two-step setting, two).",
        "",
        "| call | degree | diffusion_unet (DDIM) | consistency |",
        "|---|---|---|---|",
    ]
    for what, ddim, consistency in table:
        kind = "RANDOM_API" if what == "RANDOM_API" else "VARIATION_API"
        degree = "" if what == "RANDOM_API" else what
        lines.append(f"| {kind} | {degree} | {ddim} | {consistency} |")
    variations = [row for row in table if row[0] != "RANDOM_API"]
    total_ddim = sum(row[1] for row in variations)
    total_cm = sum(row[2] for row in variations)
    lines += [
        f"| all {len(variations)} variations of one lineage | | {total_ddim} | {total_cm} |",
        "",
        f"Over the schedule a sample's lineage costs {total_ddim} DDIM calls against {total_cm} consistency",
        f"calls ({total_ddim / max(total_cm, 1):.0f} times fewer); every variation a PE iteration makes",
        "(lookahead ones included) costs the same per-degree count.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(Path(__file__).resolve().parent / "CALLS.md"))
    parser.add_argument("--quick", action="store_true", help="the first and last degree only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    degrees = variation_degrees(PAPER_ITERATIONS, PAPER_SCHEDULE)
    if args.quick:
        degrees = [degrees[0], degrees[-1]]
    with tempfile.TemporaryDirectory() as scratch, torch.inference_mode():
        folder = save_unet(Path(scratch) / "unet", num_class_embeds=None)
        table = list(rows(degrees, folder))
    Path(args.output).write_text(render(table, degrees))
    return 0


if __name__ == "__main__":
    sys.exit(main())
