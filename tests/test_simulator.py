import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.apis import balanced_labels, make_api
from private_evolution.seeding import per_sample_seeds
from private_evolution.simulator import PARAMETERS, GlyphSimulator

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def simulator():
    return GlyphSimulator(DIGITS, 28, 1, {})


def test_same_seed_same_image(simulator):
    labels = balanced_labels(20, 10)
    first = simulator.random_api(labels, per_sample_seeds(3, 20, "random"))
    second = simulator.random_api(labels, per_sample_seeds(3, 20, "random"))
    other = simulator.random_api(labels, per_sample_seeds(4, 20, "random"))
    assert np.array_equal(first.images, second.images)
    assert not np.array_equal(first.images, other.images)
    assert first.images.shape == (20, 28, 28, 1) and first.images.dtype == np.uint8
    assert first.images.reshape(20, -1).max(axis=1).min() > 100  # every sample has ink


def test_sample_does_not_depend_on_batch(simulator):
    labels = balanced_labels(30, 10)
    seeds = per_sample_seeds(0, 30, "random")
    whole = simulator.random_api(labels, seeds)
    part = simulator.random_api(labels[10:20], seeds[10:20])
    assert np.array_equal(whole.images[10:20], part.images)


def test_degree_zero_returns_the_input(simulator):
    labels = balanced_labels(20, 10)
    parents = simulator.random_api(labels, per_sample_seeds(0, 20, "random"))
    children = simulator.variation_api(parents, 0.0, per_sample_seeds(0, 20, "vary"))
    assert np.array_equal(children.images, parents.images)
    assert np.array_equal(children.state["params"], parents.state["params"])


def test_larger_degree_moves_further_on_average(simulator):
    labels = balanced_labels(200, 10)
    parents = simulator.random_api(labels, per_sample_seeds(0, 200, "random"))
    scale = np.array([p.high - p.low for p in PARAMETERS])
    moves = []
    for degree in (0.1, 0.5, 1.0):
        children = simulator.variation_api(parents, degree, per_sample_seeds(1, 200, "vary"))
        param_move = np.abs((children.state["params"] - parents.state["params"]) / scale).mean()
        pixel_move = np.abs(children.images.astype(float) - parents.images).mean()
        moves.append((param_move, pixel_move))
        assert (children.labels == parents.labels).all()
    assert moves[0][0] < moves[1][0] < moves[2][0]
    assert moves[0][1] < moves[1][1] < moves[2][1]


def test_rgb_and_inverted_output():
    simulator = GlyphSimulator(["A", "b"], 32, 3, {"invert": True, "fonts": ["DejaVuSans"]})
    population = simulator.random_api(np.array([0, 1]), per_sample_seeds(0, 2, "r"))
    assert population.images.shape == (2, 32, 32, 3)
    assert population.images[:, 0, 0].min() == 255  # white background when inverted


def test_classes_the_simulator_cannot_make():
    with pytest.raises(PEError, match="cannot make classes"):
        GlyphSimulator(["airplane", "7"], 28, 1, {})


def test_unknown_font():
    with pytest.raises(PEError, match="font 'NoSuchFont' not found"):
        GlyphSimulator(DIGITS, 28, 1, {"fonts": ["NoSuchFont"]})


def test_registry_rejects_unknown_api():
    with pytest.raises(PEError, match="unknown api.name"):
        make_api({"name": "dall-e"}, DIGITS, 28, 1)


def test_balanced_labels():
    assert np.bincount(balanced_labels(23, 10)).tolist() == [3, 3, 3] + [2] * 7
    with pytest.raises(PEError):
        balanced_labels(5, 10)
