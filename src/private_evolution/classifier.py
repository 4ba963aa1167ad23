"""Downstream accuracy (DPImageBench protocol): train a small CNN on synthetic
images with their generation labels, test it on held-out real images.

Fixed seeds and a single thread make the number reproducible on a CPU. The training is the
previous one (Adam 1e-3, batch 64, 10 epochs) cut to 5 epochs with a 1.5 times larger step:
the same initialisation and batch order in under half the time, and the same verdict on the
default run's synthetic sets (benchmarks/JUDGE.md: the paired differences are within the
previous judge's own spread over its training seeds).
"""

from __future__ import annotations

import contextlib

import numpy as np

EPOCHS = 5
BATCH_SIZE = 64
LEARNING_RATE = 1.5e-3


def build_cnn(channels: int, image_size: int, num_classes: int):
    """2 conv + 2 dense layers. Each ReLU after its max-pooling: the same function as pooling
    after the ReLU (both are monotone), on a quarter of the values."""
    import torch.nn as nn

    side = image_size // 4
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(inplace=True),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def _tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


@contextlib.contextmanager
def single_thread():
    """One intra-op thread (reproducible float sums), the caller's thread count restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(
    images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = EPOCHS, seed: int = 0,
    batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE,
):
    """Adam at a constant learning rate, one thread; ``seed`` fixes the initialisation and the
    batch order (the process's global random state is left as it was)."""
    import torch

    x, y = _tensor(images).contiguous(), torch.from_numpy(labels.astype(np.int64))
    with single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_cnn(images.shape[-1], images.shape[1], num_classes)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            shuffled_x, shuffled_y = x[order], y[order]  # one gather per epoch; batches are views
            for begin in range(0, len(x), batch_size):
                optimizer.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(model(shuffled_x[begin : begin + batch_size]), shuffled_y[begin : begin + batch_size])
                loss.backward()
                optimizer.step()
    return model.eval()


def accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> float:
    import torch

    correct = 0
    with single_thread(), torch.inference_mode():
        for begin in range(0, len(images), batch_size):
            predictions = model(_tensor(images[begin : begin + batch_size])).argmax(dim=1).numpy()
            correct += int((predictions == labels[begin : begin + batch_size]).sum())
    return correct / len(images)


def downstream_accuracy(train_images, train_labels, test_images, test_labels, num_classes: int, epochs: int, seed: int) -> float:
    model = train_classifier(train_images, train_labels, num_classes, epochs=epochs, seed=seed)
    return accuracy(model, test_images, test_labels)


def save_feature_classifier(path: str, images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int, seed: int) -> None:
    """Train the CNN on ``images`` (the held-out validation part, never the private set) and save
    its weights as arrays (cnn_features reads them without torch); its penultimate layer is an
    evaluation feature space."""
    from .cnn_features import weights_from_state
    from .io import save_npz

    model = train_classifier(images, labels.astype(np.int64), num_classes, epochs=epochs, seed=seed)
    save_npz(path, **weights_from_state(model.state_dict(), images.shape[-1], images.shape[1], num_classes))
