"""Stage release: a folder holding only DP outputs, with a sha256 manifest.

What goes in: the final synthetic images and labels, the noisy vote histograms
of every iteration and privacy.json, per epsilon. Nothing under private/, no
evaluation metric (they are not DP), no API state.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from .. import PEError
from ..io import load_npz, save_npz
from . import logger

MANIFEST = "MANIFEST.sha256"


def _refuse_private(path: str) -> None:
    if "private" in Path(path).parts:
        raise PEError(f"refusing to release '{path}': it lies under a private/ folder")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def release(runs: dict[str, dict], output_dir: str) -> None:
    """runs: epsilon label -> {'privacy': path, 'votes': [paths, t = 1..T], 'final': path}."""
    out = Path(output_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for label, files in runs.items():
        for path in [files["privacy"], files["final"], *files["votes"]]:
            _refuse_private(path)
        folder = out / f"eps_{label}"
        folder.mkdir()
        shutil.copyfile(files["privacy"], folder / "privacy.json")
        final = load_npz(files["final"], required=("images", "labels"))
        save_npz(folder / "synthetic.npz", images=final["images"], labels=final["labels"])
        for t, votes_path in enumerate(files["votes"], start=1):
            votes = load_npz(votes_path, required=("noisy_counts", "labels"))
            save_npz(folder / f"noisy_votes_iter_{t}.npz", noisy_counts=votes["noisy_counts"], labels=votes["labels"])
    lines = [f"{sha256_of(path)}  {path.relative_to(out)}" for path in sorted(out.rglob("*")) if path.is_file()]
    (out / MANIFEST).write_text("\n".join(lines) + "\n")
    logger.info("released %d files for %d epsilons to %s", len(lines), len(runs), out)
