"""The diffusers APIs with tiny random-weight models saved locally and loaded through the config path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from private_evolution.contract import embedding_path, lookahead_path, population_path
from private_evolution import PEError
from private_evolution.apis import make_api
from private_evolution.config import load_config
from private_evolution.io import Population, load_npz, load_population
from private_evolution.seeding import per_sample_seeds
from private_evolution.stages.lookahead import lookahead_embeddings
from workflow_helpers import REPO, copy_repository, planned_jobs, snakemake, write_config

sys.path.insert(0, str(REPO / "benchmarks"))
from diffusers_models import save_stable_diffusion, save_unet  # noqa: E402

CLASSES = ["0", "1", "2"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "sd": save_stable_diffusion(root / "tiny_sd"),
        "unet": save_unet(root / "tiny_unet", num_class_embeds=10),
        "unconditional_pipeline": save_unet(root / "tiny_ddpm", num_class_embeds=None, learned_variance=True, as_pipeline=True),
    }


def sd_config(models, **options):
    base = {"model": str(models["sd"]), "size": 32, "random_steps": 3, "variation_steps": 4, "batch_size": 4}
    return {"name": "stable_diffusion", "stable_diffusion": {**base, **options}}


def unet_config(models, **options):
    base = {"model": str(models["unet"]), "steps": 5, "batch_size": 4, "class_map": {"0": [1, 2], "1": [3], "2": [4]}}
    return {"name": "diffusion_unet", "diffusion_unet": {**base, **options}}


def api_configs(models):
    return {
        "stable_diffusion": sd_config(models),
        "class-conditional unet": unet_config(models),
        "unconditional pipeline, learned variance": unet_config(
            models, model=str(models["unconditional_pipeline"]), subfolder="unet", class_map=None
        ),
    }


LABELS = np.array([0, 1, 2, 0, 1, 2, 0])


@pytest.mark.parametrize("which", ["stable_diffusion", "class-conditional unet", "unconditional pipeline, learned variance"])
def test_random_and_variation_api(models, which):
    config = api_configs(models)[which]
    api = make_api(config, CLASSES, 28, 1)
    seeds = per_sample_seeds(0, len(LABELS), "random")
    population = api.random_api(LABELS, seeds)
    assert population.images.shape == (7, 28, 28, 1) and population.images.dtype == np.uint8
    assert (population.labels == LABELS).all()
    assert population.images.std() > 0

    # the same seeds give the same images; a different batch size changes at most float rounding
    again = make_api(config, CLASSES, 28, 1).random_api(LABELS, seeds)
    assert (again.images == population.images).all()
    inner = config[config["name"]]
    one_at_a_time = make_api({**config, config["name"]: {**inner, "batch_size": 1}}, CLASSES, 28, 1)
    assert np.abs(one_at_a_time.random_api(LABELS, seeds).images.astype(int) - population.images).max() <= 2

    variation_seeds = per_sample_seeds(0, len(LABELS), "variation")
    varied = api.variation_api(population, 0.5, variation_seeds)
    assert varied.images.shape == population.images.shape
    assert (varied.labels == population.labels).all()
    assert not (varied.images == population.images).all()
    assert set(varied.state) == set(population.state)
    for name in population.state:
        assert (varied.state[name] == population.state[name]).all(), "variation keeps the prompt / model class"
    assert (api.variation_api(population, 0.5, variation_seeds).images == varied.images).all()
    # degree 0 redoes nothing of the trajectory: the parent comes back
    assert (api.variation_api(population, 0.0, variation_seeds).images == population.images).all()


def test_rgb_output_and_prompts_per_class(models):
    config = sd_config(models, prompts={"0": ["a zero", "a round zero"], "1": "a one"}, prompt_template="digit {class_name}")
    api = make_api(config, CLASSES, 16, 3)
    assert api.prompts == [["a zero", "a round zero"], ["a one"], ["digit 2"]]
    population = api.random_api(LABELS, per_sample_seeds(1, len(LABELS), "random"))
    assert population.images.shape == (7, 16, 16, 3)
    prompt_ids = population.state["prompt_id"]
    assert set(prompt_ids[LABELS == 0]) <= {0, 1} and (prompt_ids[LABELS != 0] == 0).all()


def test_class_map_picks_model_classes(models):
    api = make_api(unet_config(models), CLASSES, 28, 1)
    labels = np.repeat([0, 1, 2], 8)
    population = api.random_api(labels, per_sample_seeds(2, len(labels), "random"))
    classes = population.state["model_class"]
    assert set(classes[labels == 0]) <= {1, 2} and (classes[labels == 1] == 3).all() and (classes[labels == 2] == 4).all()
    unconditional = make_api(unet_config(models, class_map=None), CLASSES, 28, 1).random_api(labels, per_sample_seeds(2, 24, "r"))
    assert unconditional.state["model_class"].min() >= 0 and unconditional.state["model_class"].max() < 10


def test_bad_api_options_are_clear_errors(models):
    with pytest.raises(PEError, match="class_map must give each"):
        make_api(unet_config(models, class_map={"0": [1]}), CLASSES, 28, 1)
    with pytest.raises(PEError, match="not in dataset.class_names"):
        make_api(sd_config(models, prompts={"cat": "a cat"}), CLASSES, 28, 1)
    api = make_api(unet_config(models, model=str(models["unconditional_pipeline"]), subfolder="unet"), CLASSES, 28, 1)
    with pytest.raises(PEError, match="not class-conditional"):
        api.random_api(LABELS, per_sample_seeds(0, 7, "r"))
    api = make_api(unet_config(models, class_map={"0": [1], "1": [2], "2": [99]}), CLASSES, 28, 1)
    with pytest.raises(PEError, match=r"outside 0\.\.9"):
        api.random_api(LABELS, per_sample_seeds(0, 7, "r"))
    with pytest.raises(PEError, match="fractions of the trajectory"):
        make_api(unet_config(models), CLASSES, 28, 1).variation_api(
            Population(np.zeros((1, 28, 28, 1), np.uint8), np.zeros(1, np.int64)), 1.5, per_sample_seeds(0, 1, "v")
        )


def test_missing_weights_name_the_model_and_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for config in (
        {"name": "diffusion_unet", "diffusion_unet": {"model": "no-such-org/no-such-unet"}},
        {"name": "stable_diffusion", "stable_diffusion": {"model": "no-such-org/no-such-sd"}},
    ):
        api = make_api(config, CLASSES, 28, 1)
        with pytest.raises(PEError) as caught:
            api.random_api(LABELS, per_sample_seeds(0, 7, "r"))
        message = str(caught.value)
        assert config[config["name"]]["model"] in message
        assert "hf download" in message and "HF_HOME" in message and "local folder" in message
    broken = tmp_path / "broken"
    broken.mkdir()
    api = make_api({"name": "diffusion_unet", "diffusion_unet": {"model": str(broken)}}, CLASSES, 28, 1)
    with pytest.raises(PEError, match="save_pretrained"):
        api.random_api(LABELS, per_sample_seeds(0, 7, "r"))


def test_config_rejects_degrees_above_one_and_needs_a_model():
    raw = {"experiments": {"x": {"api": {"name": "diffusion_unet", "diffusion_unet": {"model": "some/model"}},
                                 "pe": {"degree_schedule": {"kind": "constant", "start": 2.0}}}}}
    with pytest.raises(PEError, match="degrees up to 1"):
        load_config(raw)
    with pytest.raises(PEError, match="model is required"):
        load_config({"experiments": {"x": {"api": {"name": "diffusion_unet"}}}})


def test_lookahead_embeddings_average_each_candidates_variations():
    features = np.arange(12, dtype=float).reshape(6, 2)  # 3 candidates x 2 variations, 2-d
    assert np.allclose(lookahead_embeddings(features, 3, 2), [[1, 2], [5, 6], [9, 10]])


def test_workflow_runs_each_api_end_to_end(models, tmp_path):
    """T = 1 with each API through the real Snakefile; the UNet experiment also uses lookahead."""
    workdir = copy_repository(tmp_path)
    common = {
        "dataset": {"num_private": 60, "num_heldout": 30},
        "embedder": {"name": "pixels"},
        "pe": {"iterations": 1, "num_samples": 12, "degree_schedule": {"kind": "constant", "start": 0.6}},
        "privacy": {"epsilons": [1], "delta": 1.0e-3},
        "evaluation": {"accuracy": {"enabled": False}},
        "plot": {"samples_per_class": 1},
    }
    config = {"experiments": {
        "sd": {**common, "api": sd_config(models)},
        "unet": {**common, "api": unet_config(models, class_map=None), "pe": {**common["pe"], "lookahead": 2}},
    }}
    write_config(workdir, config)
    plan = planned_jobs(workdir, "--cores", "2")
    assert plan["lookahead"] == 1 and plan["random_population"] == 2 and plan["vary"] == 2
    snakemake(workdir, "--cores", "2")
    for name, state_key in (("sd", "prompt_id"), ("unet", "model_class")):
        final = load_population(workdir / population_path(name, "1", 1))
        assert final.images.shape == (12, 28, 28, 1) and state_key in final.state
        assert (workdir / f"results/{name}/plots/fd_vs_epsilon.png").stat().st_size > 0
    lookahead = load_npz(workdir / lookahead_path("unet", "1", 0, "pixels"))
    plain = load_npz(workdir / embedding_path("unet", "1", 0, "pixels"))
    assert lookahead["features"].shape == plain["features"].shape
    assert not np.allclose(lookahead["features"], plain["features"])
    assert "lookahead" in (workdir / "results/unet/logs/lookahead/shared_iter_0_pixels.log").read_text()
