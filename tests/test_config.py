import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from private_evolution import PEError
from private_evolution.config import load_config
from private_evolution.epsilons import epsilon_label
from private_evolution.stages.prepare_private import prepare_private

REPO = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def with_option(section, key, value):
    config = default_config()
    config["experiments"]["default"].setdefault(section, {})[key] = value
    return config


def test_default_config_is_valid():
    experiments = load_config(default_config())
    exp = experiments["default"]
    assert exp.epsilon_labels == ["0.5", "1", "2", "4", "8", "inf"]
    assert len(exp.degrees) == exp.pe.iterations
    assert exp.dataset.class_names == [str(d) for d in range(10)]


def test_every_option_has_a_default():
    exp = load_config({"experiments": {"minimal": {}}})["minimal"]
    assert exp.pe.iterations >= 1 and exp.privacy.delta == 1e-5


@pytest.mark.parametrize(
    "section,key,value,expected",
    [
        ("pe", "itertions", 3, r"experiments\.default\.pe: Additional properties.*'itertions'.*allowed keys: iterations"),
        ("privacy", "epsilons", [1, 0], r"privacy\.epsilons\.1: 0 is invalid"),
        ("privacy", "epsilons", [-2], r"privacy\.epsilons\.0: -2 is invalid"),
        ("privacy", "delta", 1.0, r"privacy\.delta: 1\.0 is greater than or equal to the maximum"),
        ("privacy", "delta", 0, r"privacy\.delta: 0 is less than or equal to the minimum"),
        ("pe", "iterations", 0, r"pe\.iterations: 0 is less than the minimum of 1"),
        ("pe", "num_samples", 7, r"pe\.num_samples: 7 is smaller than the number of classes \(10\)"),
        ("pe", "k", 500, r"pe\.k: each private sample votes for k=500"),
        ("dataset", "name", "imagenet", r"dataset\.name: unknown dataset 'imagenet'"),
        ("embedder", "name", "clip", r"embedder\.name: unknown embedder 'clip'"),
        ("api", "name", "dalle", r"api\.name: unknown API 'dalle'"),
        ("privacy", "epsilons", [1, 1.0], r"repeated values"),
    ],
)
def test_bad_config_gives_one_clear_message(section, key, value, expected):
    with pytest.raises(PEError, match=expected):
        load_config(with_option(section, key, value))


def test_unknown_top_level_key():
    config = default_config()
    config["experiment"] = {}
    with pytest.raises(PEError, match=r"\(top level\): Additional properties.*'experiment'"):
        load_config(config)


@pytest.mark.parametrize("value", [True, False])
def test_removed_warm_worker_option_says_to_delete_it(value):
    """warm_worker was removed with the worker it switched: a config (or --config) that still
    sets it is refused with what to do, not with a bare "unexpected key"."""
    config = default_config()
    config["warm_worker"] = value
    with pytest.raises(PEError, match=r"warm_worker was removed: every job now runs .* Delete the key from your config"):
        load_config(config)


def test_class_the_api_cannot_make():
    config = with_option("dataset", "name", "npz")
    config["experiments"]["default"]["dataset"]["class_names"] = ["horse", "ship"]
    with pytest.raises(PEError, match=r"api: the glyph simulator cannot make classes \['horse', 'ship'\]"):
        load_config(config)


def test_explicit_degrees_must_match_iterations():
    config = with_option("pe", "degree_schedule", {"kind": "explicit", "degrees": [1.0, 0.5]})
    with pytest.raises(PEError, match="has 2 values but pe.iterations is 5"):
        load_config(config)


def test_delta_not_below_one_over_n_warns():
    with pytest.warns(UserWarning, match="not below 1/num_private"):
        load_config(with_option("privacy", "delta", 0.01))


def test_inf_spellings():
    exp = load_config(with_option("privacy", "epsilons", ["inf", 2.5]))
    assert exp["default"].epsilon_labels == ["inf", "2.5"]
    exp = load_config(with_option("privacy", "epsilons", [float("inf"), 3]))  # YAML's .inf
    assert exp["default"].epsilon_labels == ["inf", "3"]
    assert epsilon_label(1.0) == "1" and epsilon_label(0.25) == "0.25"


def test_images_of_the_wrong_shape(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, images=np.zeros((40, 32, 32, 3), np.uint8), labels=np.arange(40) % 2)
    dataset = {
        "name": "npz", "path": str(path), "class_names": ["0", "1"], "image_size": 28, "channels": 1,
        "num_private": 20, "num_heldout": 10, "split_seed": 0,
    }
    with pytest.raises(PEError, match=r"images of shape \(32, 32, 3\).*image_size=28.*channels=1"):
        prepare_private(dataset, str(tmp_path / "p.npz"), str(tmp_path / "h.npz"))
    assert not (tmp_path / "p.npz").exists()
    right = copy.deepcopy(dataset) | {"image_size": 32, "channels": 3}
    prepare_private(right, str(tmp_path / "p.npz"), str(tmp_path / "h.npz"))
    assert np.load(tmp_path / "p.npz")["images"].shape == (20, 32, 32, 3)
