"""The consistency API with a tiny random UNet, against diffusers' own ConsistencyModelPipeline and scheduler."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from private_evolution import PEError
from private_evolution.apis import make_api
from private_evolution.config import load_config
from private_evolution.io import Population
from private_evolution.seeding import per_sample_seeds
from workflow_helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from diffusers_models import save_unet  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["0", "1"]


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory):
    return save_unet(tmp_path_factory.mktemp("cm") / "unet", num_class_embeds=10)


def api_for(folder, **options):
    base = {"model": str(folder), "batch_size": 3, "device": "cpu", "dtype": "float32"}
    return make_api({"name": "consistency", "consistency": {**base, **options}}, CLASSES, 28, 1)


def counted(unet):
    calls = []
    unet.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    return calls


@pytest.mark.parametrize("timesteps", [[0], [22, 0]])
def test_random_api_is_diffusers_consistency_pipeline(unet_folder, timesteps):
    from diffusers import CMStochasticIterativeScheduler, ConsistencyModelPipeline, UNet2DModel

    api = api_for(unet_folder, random_timesteps=timesteps, class_map={"0": [3], "1": [7]})
    seeds = per_sample_seeds(0, 3, "random")
    classes = np.array([3, 7, 3])
    with torch.no_grad():
        ours = api._denoise(None, classes, seeds, 1.0)
    pipeline = ConsistencyModelPipeline(unet=UNet2DModel.from_pretrained(unet_folder), scheduler=CMStochasticIterativeScheduler())
    for i, (seed, model_class) in enumerate(zip(seeds, classes)):
        expected = pipeline(batch_size=1, class_labels=[int(model_class)], timesteps=timesteps, output_type="pt",
                            generator=torch.Generator().manual_seed(int(seed))).images
        assert (ours[i : i + 1].clamp(0, 1) - expected).abs().max() < 1e-5

    unet = api.loaded()[0]
    calls = counted(unet)
    population = api.random_api(np.array([0, 1, 0, 1]), per_sample_seeds(1, 4, "random"))
    assert sum(calls) == 4 * len(timesteps) == 4 * api.network_calls(None)
    assert population.images.shape == (4, 28, 28, 1) and population.images.std() > 0
    assert list(population.state["model_class"]) == [3, 7, 3, 7]


def test_variation_api_is_one_call_at_the_degrees_noise_level(unet_folder):
    api = api_for(unet_folder)
    parents = api.random_api(np.array([0, 1, 0]), per_sample_seeds(2, 3, "random"))
    unet, scheduler = api.loaded()[:2]
    calls = counted(unet)
    seeds = per_sample_seeds(2, 3, "variation")
    changes = {}
    for degree in (0.98, 0.6, 0.02):
        calls.clear()
        varied = api.variation_api(parents, degree, seeds)
        assert sum(calls) == 3 and api.network_calls(degree) == 1, "one UNet call per variation"
        assert (varied.state["model_class"] == parents.state["model_class"]).all()
        assert (api.variation_api(parents, degree, seeds).images == varied.images).all()
        # the degree's noise level: the Karras sigma of training point round((1 - degree) x 39)
        ramp = round((1 - degree) * 39) / 39
        rho, low, high = 7.0, 0.002, 80.0
        expected_sigma = (high ** (1 / rho) + ramp * (low ** (1 / rho) - high ** (1 / rho))) ** rho
        assert scheduler.sigmas[0].item() == pytest.approx(expected_sigma, rel=1e-5)
        changes[degree] = np.abs(varied.images.astype(int) - parents.images).mean()
    # the consistency parameterisation (c_skip -> 1, c_out -> 0 as sigma -> sigma_min) keeps a
    # lightly noised sample near its parent, random weights or not
    assert changes[0.02] < 2 and changes[0.02] < changes[0.6]
    calls.clear()
    assert (api.variation_api(parents, 0.0, seeds).images == parents.images).all() and calls == []
    assert api.network_calls(0.0) == 0


def test_config_checks_the_consistency_options(unet_folder):
    experiment = {"api": {"name": "consistency", "consistency": {"model": str(unet_folder)}}}
    config = load_config({"experiments": {"x": experiment}})
    options = config["x"].api.options
    assert options["random_timesteps"] == [0] and options["batch_size"] == 64
    bad = {"api": {"name": "consistency", "consistency": {"model": "m", "random_timesteps": []}}}
    with pytest.raises(PEError, match="random_timesteps"):
        load_config({"experiments": {"x": bad}})
    with pytest.raises(PEError, match="class_map must give each"):
        api_for(unet_folder, class_map={"0": [1]})
    outside = api_for(unet_folder, class_map={"0": [1], "1": [10]})
    with pytest.raises(PEError, match=r"outside 0\.\.9"):
        outside.random_api(np.array([0, 1]), per_sample_seeds(0, 2, "random"))
    with pytest.raises(PEError, match="fractions of the trajectory"):
        api_for(unet_folder).variation_api(
            Population(np.zeros((1, 28, 28, 1), np.uint8), np.zeros(1, np.int64)), 1.5, per_sample_seeds(0, 1, "v")
        )


def test_calls_benchmark_counts_ddim_against_one_consistency_step(tmp_path):
    import subprocess

    output = tmp_path / "CALLS.md"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "calls.py"), "--quick", "--output", str(output)],
                   check=True, capture_output=True)
    rows = [line for line in output.read_text().splitlines() if line.startswith("| VARIATION_API")]
    assert rows == ["| VARIATION_API | 0.98 | 98 | 1 |", "| VARIATION_API | 0.60 | 60 | 1 |"]
    assert "| RANDOM_API |  | 100 | 1 |" in output.read_text()
