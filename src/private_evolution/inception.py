"""clean-fid's Inception-v3 feature path ("clean" mode), loaded offline.

FID as published (clean-fid, Parmar et al. 2022) resizes each image to 299x299
with PIL bicubic on float pixels, channel by channel, then takes the 2048-d pool
features of the TorchScript Inception-v3 that NVIDIA converted from TensorFlow
(``inception-2015-12-05.pt``). We call clean-fid's own resizer and its own
wrapper of that TorchScript file, so the numbers are the standard ones. Only
those two clean-fid modules are imported: the rest of clean-fid imports
torchvision, which this feature path does not need.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import PublicError
from .io import file_sha256, save_bytes
from .io import user_cache as io_user_cache

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "inception-2015-12-05.pt"
WEIGHTS_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
# The file of the first download is remembered by its sha256 here, beside it.
DIGEST_FILE = WEIGHTS_FILE + ".sha256"


def user_cache() -> Path:
    """The Inception weights' per-user cache (clean-fid's own default, /tmp, is writable by every
    local user, who could plant the network that computes the metrics there)."""
    return io_user_cache("inception")


def weights_folder(configured: str | None) -> Path:
    """Where the weights are read from: the configured folder, else $PE_INCEPTION_DIR, else the user cache."""
    if configured:
        return Path(configured)
    return Path(os.environ["PE_INCEPTION_DIR"]) if os.environ.get("PE_INCEPTION_DIR") else user_cache()


def verify_weights(path: Path, expected_sha256: str | None) -> None:
    """Check the weights before use: against the configured digest, else against the digest
    recorded when this cache downloaded the file. A mismatch is an error, never a warning."""
    recorded = path.parent / DIGEST_FILE
    expected = expected_sha256 or (recorded.read_text().split()[0] if recorded.is_file() else None)
    if expected is None:
        return
    actual = file_sha256(path)
    if actual.lower() != expected.lower():
        source = "evaluation.fid.weights_sha256 / embedder.weights_sha256" if expected_sha256 else f"'{recorded}' (written at download)"
        raise PublicError(
            f"'{path}' has sha256 {actual}, but {source} says {expected}: the file was changed or replaced. "
            f"Delete it and download {WEIGHTS_URL} again (or fix the configured digest); it is not used."
        )


def ensure_weights(folder: Path, expected_sha256: str | None = None) -> Path:
    """The verified weights file, downloaded by clean-fid into ``folder`` if absent; a clear error otherwise."""
    path = folder / WEIGHTS_FILE
    if path.is_file():
        verify_weights(path, expected_sha256)
        return path
    try:
        from cleanfid.downloads_helper import check_download_inception

        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        check_download_inception(fpath=str(folder))
    except Exception as err:  # no network, proxy, disk: every cause ends the same way
        if path.exists():
            path.unlink()  # never leave a partial download behind
        raise PublicError(
            f"clean-fid's Inception-v3 weights are missing: '{path}' does not exist and downloading them "
            f"failed ({type(err).__name__}: {err}). On a machine with internet, download {WEIGHTS_URL} and "
            f"copy it to '{path}' (or set evaluation.fid.weights_dir / embedder.weights to the folder holding "
            f"{WEIGHTS_FILE}). No other feature extractor is used in its place."
        ) from err
    save_bytes(folder / DIGEST_FILE, f"{file_sha256(path)}  {WEIGHTS_FILE}\n".encode())
    verify_weights(path, expected_sha256)
    return path
