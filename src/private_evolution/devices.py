"""Which torch device a network runs on: the ``device`` option of an embedder or a diffusers API.

A leaf module: embedders and the diffusers APIs both use it, so neither imports the other for it.
"""

from __future__ import annotations

from . import PublicError


def resolve_device(requested: str, option: str = "embedder.device") -> str:
    """``auto``: CUDA when torch sees a device, else the CPU; ``cuda`` without one is an error
    naming ``option`` (the config key it came from)."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise PublicError(f"{option} is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    return requested


def torch_device(options: dict) -> str:
    """The device an embedder runs on (``device`` option), with ``threads`` applied to torch."""
    import torch

    if options.get("threads"):
        torch.set_num_threads(int(options["threads"]))
    return resolve_device(options.get("device", "auto"))
