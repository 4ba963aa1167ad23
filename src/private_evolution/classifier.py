"""Downstream accuracy (DPImageBench protocol): train a small CNN on synthetic
images with their generation labels, test it on held-out real images.

Fixed seeds and a single thread make the number reproducible on a CPU.
"""

from __future__ import annotations

import numpy as np


def build_cnn(channels: int, image_size: int, num_classes: int):
    import torch.nn as nn

    side = image_size // 4
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Linear(128, num_classes),
    )


def _tensor(images: np.ndarray):
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0)


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int = 10, seed: int = 0, batch_size: int = 64):
    import torch

    torch.manual_seed(seed)
    model = build_cnn(images.shape[-1], images.shape[1], num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _tensor(images), torch.from_numpy(labels.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for begin in range(0, len(x), batch_size):
            ids = order[begin : begin + batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[ids]), y[ids])
            loss.backward()
            optimizer.step()
    return model.eval()


def accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> float:
    import torch

    correct = 0
    with torch.inference_mode():
        for begin in range(0, len(images), batch_size):
            predictions = model(_tensor(images[begin : begin + batch_size])).argmax(dim=1).numpy()
            correct += int((predictions == labels[begin : begin + batch_size]).sum())
    return correct / len(images)


def downstream_accuracy(train_images, train_labels, test_images, test_labels, num_classes: int, epochs: int, seed: int) -> float:
    import torch

    torch.set_num_threads(1)
    model = train_classifier(train_images, train_labels, num_classes, epochs=epochs, seed=seed)
    return accuracy(model, test_images, test_labels)


def save_feature_classifier(path: str, images: np.ndarray, labels: np.ndarray, num_classes: int, epochs: int, seed: int) -> None:
    """Train the CNN on ``images`` (the held-out validation part, never the private set) and save it
    with what is needed to rebuild it; its penultimate layer is an evaluation feature space."""
    import io

    import torch

    from .io import save_bytes

    torch.set_num_threads(1)
    model = train_classifier(images, labels.astype(np.int64), num_classes, epochs=epochs, seed=seed)
    payload = {"state": model.state_dict(), "channels": images.shape[-1], "image_size": images.shape[1], "num_classes": num_classes}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    save_bytes(path, buffer.getvalue())
