"""A labelled image set written as an image folder, the form users train from.

``<folder>/<NN>_<class>/<index>.png`` (one sub-folder per class), ``labels.csv`` (file, label,
class_name, folder) and a dataset card ``README.md``. Sub-folder names start with the label id,
zero-padded, so that their sorted order (torchvision's ``ImageFolder``, Hugging Face's
``imagefolder``) is the label order; the rest of the name is the class name made safe for a
path (``T-shirt/top`` -> ``00_T-shirt_top``). An export goes into a new or empty folder only:
it is written beside it and renamed into place, so a folder holds one whole export or none.

Run on its own (not a release: for any npz with ``images``, ``labels`` and ``class_names``)::

    python -m private_evolution.export results/exp/release/eps_1/synthetic.npz my_export/
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from . import PEError

LABELS_CSV = "labels.csv"
CARD = "README.md"
CSV_FIELDS = ("file", "label", "class_name", "folder")
CLASS_NAMES = "class_names"  # the npz array of class names in label order
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 64


def class_folders(class_names: list[str]) -> list[str]:
    """One safe, distinct folder name per class, sorted in label order: ``<id>_<name>``."""
    width = max(2, len(str(len(class_names) - 1)))
    folders = []
    for label, name in enumerate(class_names):
        slug = _UNSAFE.sub("_", str(name)).strip("._-")[:MAX_NAME].rstrip("._-") or "class"
        folders.append(f"{label:0{width}d}_{slug}")
    return folders


def _refuse_non_empty(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise PEError(
            f"refusing to export into '{folder}': it exists and is not an empty folder (an export never mixes "
            "with other files); name a new folder, or delete this one first"
        )


def export_image_folder(
    images: np.ndarray, labels: np.ndarray, class_names: list[str], folder: str | os.PathLike, card: str | None
) -> int:
    """Write ``images`` (N, H, W, C) uint8 with ``labels`` as an image folder at ``folder``
    (new or empty) with the dataset card ``card`` (Markdown; None: the caller adds ``README.md``
    itself); returns the number of images."""
    from PIL import Image

    target = Path(folder)
    _refuse_non_empty(target)
    if images.ndim != 4 or images.dtype != np.uint8 or images.shape[-1] not in (1, 3):
        raise PEError(f"cannot export images of shape {images.shape} and dtype {images.dtype}: want (N, H, W, 1 or 3) uint8")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise PEError(f"labels must lie in 0..{len(class_names) - 1} to export them with {len(class_names)} class names")
    folders = class_folders(class_names)
    width = len(str(max(len(images) - 1, 0)))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in folders:
            (tmp / name).mkdir()
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for index, (image, label) in enumerate(zip(images, labels)):
            label = int(label)
            file = f"{folders[label]}/{index:0{width}d}.png"
            pixels = image[..., 0] if image.shape[-1] == 1 else image
            Image.fromarray(pixels, mode="L" if image.shape[-1] == 1 else "RGB").save(tmp / file)
            writer.writerow((file, label, class_names[label], folders[label]))
        (tmp / LABELS_CSV).write_text(rows.getvalue())
        if card is not None:
            (tmp / CARD).write_text(card)
        if target.exists():
            _refuse_non_empty(target)  # still empty: replace it
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(images)


def read_labels_csv(folder: str | os.PathLike) -> list[dict]:
    with open(Path(folder) / LABELS_CSV, newline="") as handle:
        return list(csv.DictReader(handle))


LOADING = """\
## Loading

Sub-folders are named `<label id>_<class name>`, with the id zero-padded so that sorted
folder names are in label order: torchvision's `ImageFolder` and Hugging Face's `imagefolder`,
which both number classes by sorted folder name, give every image its label id below.
`labels.csv` lists every file with its label id, class name and folder.

```python
from torchvision.datasets import ImageFolder
data = ImageFolder("{folder}")  # data.classes[i] is folder i; class names in labels.csv

from datasets import load_dataset
data = load_dataset("imagefolder", data_dir="{folder}", split="train")
```
"""


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a class name may hold '|' or a line break."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def card_text(title: str, facts: list[tuple[str, str]], dp: str, not_dp: str, classes: list[str], folder: str = "path/to/this/folder") -> str:
    """A short dataset card: a title, a table of facts, what is and is not DP, the classes, loading."""
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in facts]
    lines += ["", "## Privacy", "", f"**Differentially private:** {dp}", "", f"**Not covered:** {not_dp}", ""]
    lines += ["## Classes", "", "| label | class | folder |", "|---|---|---|"]
    lines += [f"| {label} | {_cell(name)} | `{path}` |" for label, (name, path) in enumerate(zip(classes, class_folders(classes)))]
    return "\n".join(lines) + "\n\n" + LOADING.replace("{folder}", folder)


def export_npz(npz_path: str | os.PathLike, folder: str | os.PathLike) -> int:
    """An npz with ``images``, ``labels`` and ``class_names`` exported as an image folder whose
    card says it is not a release (a release writes its own export, with its privacy cost)."""
    from .contract import ImageArrays
    from .io import load_npz

    if "private" in Path(npz_path).resolve().parts:  # as release refuses: a private/ folder's files stay there
        raise PEError(f"refusing to export '{npz_path}': it lies under a private/ folder, whose files are not differentially private")
    arrays = load_npz(npz_path, required=(*ImageArrays.REQUIRED, CLASS_NAMES))
    classes = [str(name) for name in arrays[CLASS_NAMES]]
    images = arrays[ImageArrays.IMAGES]
    card = card_text(
        f"Image set exported from {Path(npz_path).name}",
        [("source", f"`{npz_path}`"), ("images", str(len(images))), ("classes", str(len(classes)))],
        "not stated here: this export is not a release. Only a release (results/<exp>/release/) states a privacy guarantee.",
        "check where the source file came from before sharing this folder.",
        classes,
    )
    return export_image_folder(images if images.ndim == 4 else images[..., None], arrays[ImageArrays.LABELS], classes, folder, card)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Export an npz (images, labels, class_names) as an image folder.")
    parser.add_argument("npz")
    parser.add_argument("folder", help="a new or empty folder")
    args = parser.parse_args(argv)
    try:
        count = export_npz(args.npz, args.folder)
    except PEError as err:
        raise SystemExit(f"error: {err}")
    print(f"exported {count} images to {args.folder}")


if __name__ == "__main__":
    main()
