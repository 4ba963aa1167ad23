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


class Adam:
    """Adam at a constant step size, with the arithmetic of ``torch.optim.Adam``'s single-tensor
    path at its defaults (the same weights to the bit: tests/test_evaluation.py).

    Why not torch.optim: its constructor imports torch._dynamo, a compiler this training never
    uses, which took 1.5-2 s of every judge job (a third of a training) before the first step.
    """

    def __init__(self, parameters, learning_rate: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        import torch

        self.parameters = list(parameters)
        self.learning_rate, self.betas, self.eps = learning_rate, betas, eps
        self.first_moments = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]
        self.second_moments = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]
        self.steps = 0

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    def step(self) -> None:
        import torch

        beta1, beta2 = self.betas
        self.steps += 1
        # torch keeps the count as a float32 tensor and reads it back as a Python float
        bias_correction1 = 1 - beta1 ** float(self.steps)
        bias_correction2_sqrt = (1 - beta2 ** float(self.steps)) ** 0.5
        step_size = self.learning_rate / bias_correction1
        with torch.no_grad():
            for parameter, first, second in zip(self.parameters, self.first_moments, self.second_moments):
                grad = parameter.grad
                if grad is None:
                    continue
                first.lerp_(grad, 1 - beta1)
                second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denominator = (second.sqrt() / bias_correction2_sqrt).add_(self.eps)
                parameter.addcdiv_(first, denominator, value=-step_size)


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
        optimizer = Adam(model.parameters(), learning_rate)
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            shuffled_x, shuffled_y = x[order], y[order]  # one gather per epoch; batches are views
            for begin in range(0, len(x), batch_size):
                optimizer.zero_grad()
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
