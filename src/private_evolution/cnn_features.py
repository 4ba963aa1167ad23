"""The small CNN's penultimate features (classifier.build_cnn) in numpy, from its saved weights.

Evaluation embeds every population in this space. torch trains the CNN once per experiment,
but its import alone (about 3 s of CPU here) cost more than the forward pass it served
(about 1 s for 3,000 digits), once per evaluated population. Each convolution is one
matrix product over the image's 3x3 patches, as BLAS likes it; the features agree with
torch's to float32 rounding (tests/test_cnn_features.py).
"""

from __future__ import annotations

import numpy as np

# build_cnn's layers, by their index in its nn.Sequential (the keys of its state dict)
CONV1, CONV2, DENSE1 = "0", "3", "7"
WEIGHT_KEYS = tuple(f"{layer}.{part}" for layer in (CONV1, CONV2, DENSE1, "9") for part in ("weight", "bias"))


def weights_from_state(state: dict, channels: int, image_size: int, num_classes: int) -> dict[str, np.ndarray]:
    """The arrays the feature file holds: every parameter of the CNN's state dict, and its shape's numbers."""
    arrays = {key: value.detach().cpu().numpy().astype(np.float32) for key, value in state.items()}
    missing = set(WEIGHT_KEYS) - set(arrays)
    if missing:
        raise ValueError(f"the CNN's state lacks {sorted(missing)}: it is not classifier.build_cnn's network")
    return {**arrays, "channels": np.int64(channels), "image_size": np.int64(image_size), "num_classes": np.int64(num_classes)}


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Conv2d(kernel 3, padding 1) of channels-last ``x`` (N, H, W, C) with torch's (O, C, 3, 3) weight."""
    n, height, width, channels = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # (N, H, W, 9 C), patch offsets outer, channels inner: one contiguous copy for one product
    patches = np.concatenate([padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)], axis=3)
    kernel = weight.transpose(2, 3, 1, 0).reshape(9 * channels, -1)
    return (patches.reshape(n * height * width, -1) @ kernel + bias).reshape(n, height, width, -1)


def _pool2_relu(x: np.ndarray) -> np.ndarray:
    """MaxPool2d(2) then ReLU, channels last."""
    pooled = np.maximum(np.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]), np.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))
    return np.maximum(pooled, 0.0, out=pooled)


def penultimate(weights: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """The 128-d activations after the first dense layer's ReLU, for uint8 images (N, H, W, C)."""
    x = images.astype(np.float32) / np.float32(255.0)
    x = _pool2_relu(_conv3x3(x, weights[f"{CONV1}.weight"], weights[f"{CONV1}.bias"]))
    x = _pool2_relu(_conv3x3(x, weights[f"{CONV2}.weight"], weights[f"{CONV2}.bias"]))
    flat = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), -1)  # torch flattens channels first
    return np.maximum(flat @ weights[f"{DENSE1}.weight"].T + weights[f"{DENSE1}.bias"], 0.0)
