"""The validation CNN's features in numpy (cnn_features) are torch's, to float32 rounding: the
classifier evaluation space did not move when its forward pass left torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from private_evolution.classifier import build_cnn, save_feature_classifier, train_classifier
from private_evolution.cnn_features import penultimate, weights_from_state
from private_evolution.embedders.classifier import ClassifierFeatures
from private_evolution.io import CorruptFileError, save_npz


def torch_penultimate(model, images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)
        return model[:-1](x).numpy()


@pytest.mark.parametrize("channels, image_size", [(1, 28), (3, 32), (1, 8)])
def test_numpy_forward_equals_torch_on_random_weights(channels, image_size):
    torch.manual_seed(channels + image_size)
    model = build_cnn(channels, image_size, 10).eval()
    with torch.no_grad():  # larger biases than the initialisation's, so that pooling and ReLU choose differently
        for parameter in model.parameters():
            parameter.mul_(3.0)
    images = np.random.default_rng(image_size).integers(0, 256, (17, image_size, image_size, channels), dtype=np.uint8)
    expected = torch_penultimate(model, images)
    got = penultimate(weights_from_state(model.state_dict(), channels, image_size, 10), images)
    assert got.shape == expected.shape == (17, 128) and got.dtype == np.float32
    assert (expected == 0).mean() > 0.1 and (expected > 0).mean() > 0.1  # the ReLU both cuts and passes
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_saved_classifier_embeds_as_the_trained_network(tmp_path):
    """train_feature_classifier's file, read by the evaluation embedder in batches smaller than the
    set: the features of the network it was trained as."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28, 1), dtype=np.uint8)
    labels = np.repeat(np.arange(4), 10)
    path = tmp_path / "feature_classifier.npz"
    save_feature_classifier(str(path), images, labels, 4, epochs=1, seed=3)
    trained = train_classifier(images, labels, 4, epochs=1, seed=3)  # seeded: the same network again
    embedder = ClassifierFeatures({"weights": str(path), "batch_size": 16})
    np.testing.assert_allclose(embedder.embed(images), torch_penultimate(trained, images), rtol=1e-4, atol=1e-5)


def test_a_weights_file_from_another_network_is_refused_by_name(tmp_path):
    path = tmp_path / "feature_classifier.npz"
    save_npz(path, **{"0.weight": np.zeros((32, 1, 3, 3), np.float32)})
    with pytest.raises(CorruptFileError, match=r"feature_classifier\.npz.*lacks the arrays"):
        ClassifierFeatures({"weights": str(path)})
    with pytest.raises(ValueError, match="not classifier.build_cnn's network"):
        weights_from_state({"0.weight": torch.zeros(1)}, 1, 28, 10)
