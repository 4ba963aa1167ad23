"""Published datasets by name (``dataset.name: mnist | fashion_mnist | cifar10 | celeba``).

Each is read from its own published archive format (IDX files, the CIFAR-10 python
batches, CelebA's aligned JPEGs with its attribute and partition files), kept in a
cache folder (``dataset.cache_dir``, default ``~/.cache/pe-workflow/datasets``) and
checked against the digests pinned below before anything is read. A missing file is
downloaded; where that fails (no network) the error names the file, its URL and
where to put it. Each dataset's official train split is the private pool and its
test split the held-out pool, unless ``dataset.split: random``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import pickle
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import PublicError
from .io import file_digest, load_npz, save_npz, user_cache, write_json
from .progress import Progress

log = logging.getLogger("private_evolution")


@dataclass(frozen=True)
class ArchiveFile:
    name: str  # the file's name in the cache folder
    url: str
    md5: str  # as published (MNIST, CIFAR-10, Fashion-MNIST, CelebA's own lists), pinned here
    # For a .gz file: the md5 of its decompressed content (the IDX file itself). A copy re-gzipped
    # with another wrapper (no stored name, another level) or the uncompressed file is accepted
    # by it; the published md5 stays the fast path.
    content_md5: str = ""
    # For an archive: the folder it extracts to (cifar-10-batches-py, img_align_celeba), looked for
    # beside it, and the md5 of each member the reader uses (name in that folder, md5). An archive
    # whose own md5 differs (tar headers vary) and the extracted folder are matched by
    # members_digest over them. A folder without pinned members (CelebA: no per-image digest is
    # published) is checked by its reader against the verified lists instead.
    folder: str = ""
    members: tuple[tuple[str, str], ...] = ()

    @property
    def plain_name(self) -> str:
        """The name of the decompressed file (train-images-idx3-ubyte for train-images-idx3-ubyte.gz)."""
        return self.name[: -len(".gz")] if self.name.endswith(".gz") else self.name


@dataclass(frozen=True)
class KerasArrays:
    """Keras' one-file copy of an IDX data set (``keras.datasets.mnist``'s ``mnist.npz``): arrays
    x_train, y_train, x_test, y_test whose content is the four IDX files'. Matched by the sha256
    Keras pins for the file (the fast path), else array by array: each array written back as its
    IDX file (header and bytes) has that file's pinned content md5, so Keras' copy is accepted
    exactly when it holds the official IDX content, in the official order."""

    name: str
    url: str
    sha256: str
    arrays: tuple[tuple[str, str], ...]  # (npz key, the IDX file it holds), e.g. ("x_train", "train-images-idx3-ubyte.gz")


@dataclass(frozen=True)
class PublishedDataset:
    files: tuple[ArchiveFile, ...]
    image_size: int  # the dataset's own side (CelebA: the default side after its centre crop)
    channels: int
    class_names: tuple[str, ...]  # empty: the reader decides (CelebA: from the chosen attribute)
    reader: Callable[[dict[str, Path], dict], tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]]
    page: str  # where a person finds the files
    keras: KerasArrays | None = None  # another form of the same content, used when the files are not here


def cache_folder(dataset_cfg: dict) -> Path:
    """Where a published data set's files are: <cache_dir>/<name>. A cache_dir the user named
    must exist (a typo would otherwise leave stray folders and download again); the default
    location is created when needed."""
    if not dataset_cfg.get("cache_dir"):
        return user_cache("datasets") / dataset_cfg["name"]
    root = Path(dataset_cfg["cache_dir"]).expanduser()
    if not root.is_dir():
        raise PublicError(
            f"dataset.cache_dir '{dataset_cfg['cache_dir']}' does not exist: create it, or fix the path, or remove "
            f"cache_dir to use the default {user_cache('datasets')}"
        )
    return root / dataset_cfg["name"]


# Digests of files this large are kept in DIGEST_CACHE in cache_dir, by path, size and modification
# time: the 1.4 GB CelebA zip or a 160 MB CIFAR archive is read once, not by every job that loads it.
DIGEST_CACHE = ".digests.json"
LARGE_FILE = 8 << 20


def cached_digest(path: Path, kind: str, compute: Callable[[Path], str], cache: Path | None) -> str:
    """``compute(path)``, remembered in the JSON file ``cache`` (None: not remembered) for a large
    file while its size and modification time stay the same. The cache is rewritten atomically;
    one that cannot be read or written is ignored (a read-only cache_dir just computes again)."""
    stat = path.stat()
    if cache is None or stat.st_size < LARGE_FILE:
        return compute(path)
    key, stamp = f"{kind} {path.resolve()}", {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    entry = _read_digests(cache).get(key)
    if isinstance(entry, dict) and {name: entry.get(name) for name in stamp} == stamp and entry.get("digest"):
        return entry["digest"]
    digest = compute(path)
    entries = _read_digests(cache)  # again: another job may have added its own meanwhile
    entries[key] = {**stamp, "digest": digest}
    try:
        write_json(cache, entries)
    except OSError:
        pass
    return digest


def _read_digests(cache: Path) -> dict:
    try:
        entries = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def md5_of(path: Path, cache: Path | None = None) -> str:
    return cached_digest(path, "md5", lambda where: file_digest(where, "md5"), cache)


def members_digest(members) -> str:
    """sha256 over the sorted (member name, member md5) lines: one digest for an archive's members
    or an extracted folder, whatever the archive's headers."""
    import hashlib

    return hashlib.sha256("".join(f"{name} {md5}\n" for name, md5 in sorted(members)).encode()).hexdigest()


def member_md5s(file: ArchiveFile, path: Path, cache: Path | None = None) -> list[tuple[str, str]]:
    """(name, md5) of each of ``file``'s pinned members found in ``path``: an extracted folder or
    the tar archive (members matched by their base name)."""
    wanted = {name for name, _ in file.members}
    if path.is_dir():
        return [(name, md5_of(path / name, cache)) for name in sorted(wanted) if (path / name).is_file()]

    def from_tar(where: Path) -> str:
        import hashlib

        try:
            found = [f"{base} {hashlib.md5(data, usedforsecurity=False).hexdigest()}" for base, data in archive_members(where, wanted)]
        except (tarfile.TarError, OSError, EOFError):
            return ""
        return "\n".join(sorted(found))

    listed = cached_digest(path, "members", from_tar, cache)
    return [tuple(line.split(" ", 1)) for line in listed.splitlines() if line]


def _download(url: str, target: Path) -> None:
    partial = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
        total, done, next_report = int(response.headers.get("Content-Length") or 0), 0, 0
        for block in iter(lambda: response.read(1 << 20), b""):
            out.write(block)
            done += len(block)
            if done >= next_report:  # progress every 50 MB
                log.info("downloading %s: %d MB%s", target.name, done >> 20, f" of {total >> 20} MB" if total else "")
                next_report += 50 << 20
    os.replace(partial, target)


GZIP_MAGIC = b"\x1f\x8b"
# torchvision's folders of the IDX files (<root>/MNIST/raw/...), looked in besides the cache folder
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def content_md5_of(path: Path, cache: Path | None = None) -> str:
    return cached_digest(path, "content md5", _content_md5, cache)


def _content_md5(path: Path) -> str:
    """The md5 of a file's content: decompressed when it is gzip (any wrapper), else its bytes."""
    import hashlib

    if not _is_gzip(path):
        return md5_of(path)
    digest = hashlib.new("md5", usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError) as err:
        raise PublicError(f"{path} is not a readable gzip file ({err}): replace it with the published file") from err
    return digest.hexdigest()


def verified(file: ArchiveFile, path: Path, cache: Path | None = None) -> tuple[bool, str]:
    """(whether ``path`` holds ``file``'s published content, the digest that decided): the published
    md5 first (fast), then, for a file with a content digest, the md5 of its decompressed content,
    and for an archive with pinned members (or its extracted folder) the digest of its members."""
    if path.is_dir():
        if not file.members:
            return True, "names checked by the reader"
        found = member_md5s(file, path, cache)
        return members_digest(found) == members_digest(file.members), members_digest(found)
    found = md5_of(path, cache)
    if found == file.md5:
        return True, found
    if file.content_md5:
        content = content_md5_of(path, cache)
        return content == file.content_md5, content
    if file.members:
        digest = members_digest(member_md5s(file, path, cache))
        return digest == members_digest(file.members), found
    return False, found


def candidates(file: ArchiveFile, folder: Path, dataset: str | None = None) -> list[Path]:
    """Where a copy of ``file`` may already be, in order: the cache folder (as published, or
    decompressed) and, for Debian's packages, <cache_dir>/<name with '-'> (fashion-mnist); then
    torchvision's <root>/<MNIST|FashionMNIST>/raw/ beside or inside it; then an archive's extracted
    folder in the cache folder or in cache_dir itself (torchvision's <root>/cifar-10-batches-py)."""
    names = [file.name] + ([file.plain_name] if file.content_md5 else [])
    folders = [folder]
    if dataset and "_" in dataset:
        folders.append(folder.parent / dataset.replace("_", "-"))
    if dataset in TORCHVISION_FOLDERS and file.content_md5:
        folders += [folder.parent / TORCHVISION_FOLDERS[dataset] / "raw", folder / TORCHVISION_FOLDERS[dataset] / "raw"]
    found = [where / name for where in folders for name in names if (where / name).is_file()]
    if file.folder:
        found += [where / file.folder for where in (folder, folder.parent) if (where / file.folder).is_dir()]
    return found


def other_forms(file: ArchiveFile, folder: Path, keras: "KerasArrays | None" = None) -> str:
    """The other forms of ``file`` a run accepts, and where, for an error message."""
    forms = []
    if file.content_md5:
        forms.append(f"decompressed, as {folder / file.plain_name}")
    if file.folder:
        forms.append(f"extracted, as the folder {folder / file.folder}/")
    if keras is not None:
        forms.append(f"or, for all four files, Keras' {keras.name} at {folder / keras.name}")
    return f" ({'; '.join(forms)})" if forms else ""


def _mismatch(file: ArchiveFile, path: Path, found: str, page: str) -> str:
    if path.is_dir():
        differ = [name for name, md5 in file.members if (name, md5) not in set(member_md5s(file, path))]
        return (
            f"the folder {path} does not hold the published {file.folder}/: {', '.join(differ)} missing or different "
            f"(each member's md5 is pinned). Replace them with the files from {page} (or put {file.name} in {path.parent})"
        )
    what = f"md5 {file.md5}" + (f" (its decompressed content md5 {file.content_md5})" if file.content_md5 else "")
    return (
        f"{path} has md5 {found}, but the published {file.name} has {what}: the file is truncated, corrupt or "
        f"a different version. Replace it with the file from {page}"
        + (f" (gzip-compressed or not: {file.name} or {file.plain_name})" if file.content_md5 else "")
        + ", or move it away to have the published one downloaded"
    )


def fetch(
    file: ArchiveFile, folder: Path, mirror: str | None, page: str, dataset: str | None = None, keras: KerasArrays | None = None
) -> Path:
    """The verified file: a copy found in ``folder`` (see :func:`candidates`), else downloaded into
    it. A copy that fails the check is an error naming it; a download that fails it is removed.
    Digests of large files are remembered in <cache_dir>/.digests.json (see :func:`cached_digest`)."""
    url = f"{mirror.rstrip('/')}/{file.name}" if mirror else file.url
    cache = folder.parent / DIGEST_CACHE
    failed = []
    for path in candidates(file, folder, dataset):
        ok, digest = verified(file, path, cache)
        if ok:
            return path
        failed.append((path, digest))
    if failed:
        path, digest = failed[0]
        raise PublicError(_mismatch(file, path, digest, page) + f"; then run again (a missing file is downloaded from {url})")
    path = folder / file.name
    folder.mkdir(parents=True, exist_ok=True)
    log.info("%s is not in %s: downloading it from %s", file.name, folder, url)
    try:
        _download(url, path)
    except (OSError, ValueError) as err:  # URLError is an OSError; no network, a bad URL, a full disk
        path.with_name(path.name + ".part").unlink(missing_ok=True)
        raise PublicError(
            f"cannot download {file.name} from {url} ({err}). On a machine without network, fetch it "
            f"elsewhere (from {url}, or via {page}) and put it at {path}{other_forms(file, folder, keras)}, or set "
            f"dataset.cache_dir to the folder above a '{folder.name}/' folder holding it; nothing else needs to change"
        ) from err
    ok, digest = verified(file, path, cache)
    if not ok:
        path.unlink()  # a bad download leaves nothing behind
        raise PublicError(
            f"the {file.name} downloaded from {url} has md5 {digest}, not the published {file.md5}: it was not kept. "
            f"Point dataset.mirror at a copy of the published files, or put the file from {page} at {path}"
        )
    return path


# --- readers: (images uint8 (N, H, W, C), labels (N,), in_test_split (N,) bool, class names) ---


def read_idx(path: Path, kind: str) -> np.ndarray:
    """An IDX file, gzip-compressed (as MNIST and Fashion-MNIST publish them, any gzip wrapper) or not."""
    dims = {"images": 3, "labels": 1}[kind]
    try:
        if _is_gzip(path):
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as err:
        raise PublicError(f"{path} is not a readable gzip file ({err}): replace it with the published file, or move it away to have it downloaded") from err
    if len(data) < 4 + 4 * dims or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise PublicError(f"{path} is not an IDX file of {kind} (unsigned bytes, {dims} dimension(s)): replace it with the published file, or move it away to have it downloaded")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise PublicError(f"{path} is truncated: its header says {shape} but it holds {body.size} values. Replace it with the published file, or move it away to have it downloaded")
    return body.reshape(shape)


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array as the IDX file that holds it (magic 0x0803 / 0x0801, big-endian sizes)."""
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _keras_arrays(path: Path, keras: KerasArrays) -> dict[str, np.ndarray]:
    """Keras' npz as {IDX file name: array}; a file that is not such an npz is an error naming it."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {file: npz[key] for key, file in keras.arrays}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        raise PublicError(
            f"{path} is not Keras' {keras.name} (an npz with {', '.join(key for key, _ in keras.arrays)}; numpy cannot read it: {type(err).__name__}): "
            f"replace it with the file from {keras.url}, or move it away"
        ) from err
    bad = [file for file, array in arrays.items() if array.dtype != np.uint8]
    if bad:
        raise PublicError(f"{path}: the arrays for {bad} are not uint8, unlike Keras' {keras.name}: replace it with the file from {keras.url}")
    return arrays


def keras_verified(keras: KerasArrays, files: tuple[ArchiveFile, ...], path: Path) -> tuple[dict[str, np.ndarray], str]:
    """(Keras' arrays at ``path`` by IDX file name, the keys whose content differs from the official
    IDX content: empty when it is the published file or holds the same content)."""
    arrays = _keras_arrays(path, keras)
    if file_digest(path, "sha256") == keras.sha256:
        return arrays, ""
    import hashlib

    pinned = {file.name: file.content_md5 for file in files}
    differ = [
        key for key, file in keras.arrays
        if hashlib.new("md5", idx_bytes(arrays[file]), usedforsecurity=False).hexdigest() != pinned[file]
    ]
    return arrays, ", ".join(differ)


def keras_candidates(keras: KerasArrays, folder: Path) -> list[Path]:
    """Keras' npz in the cache folder or in cache_dir itself (cache_dir: ~/.keras/datasets)."""
    return [where / keras.name for where in (folder, folder.parent) if (where / keras.name).is_file()]


KERAS = "keras"  # the key under which load_published hands a reader Keras' arrays


def _idx_arrays(paths: dict) -> dict[str, np.ndarray]:
    if KERAS in paths:
        return paths[KERAS]  # Keras' arrays, already read and verified by load_published
    return {name: read_idx(path, "images" if "images" in name else "labels") for name, path in paths.items()}


def _read_idx_dataset(paths: dict[str, Path], dataset_cfg: dict):
    arrays = _idx_arrays(paths)
    train_images, test_images = arrays["train-images-idx3-ubyte.gz"], arrays["t10k-images-idx3-ubyte.gz"]
    train_labels, test_labels = arrays["train-labels-idx1-ubyte.gz"], arrays["t10k-labels-idx1-ubyte.gz"]
    for images, labels, name in ((train_images, train_labels, "train"), (test_images, test_labels, "t10k")):
        if len(images) != len(labels):
            raise PublicError(f"the {name} files hold {len(images)} images but {len(labels)} labels: replace them with the published files")
    images = np.concatenate([train_images, test_images])[..., None]
    labels = np.concatenate([train_labels, test_labels]).astype(np.int64)
    in_test = np.concatenate([np.zeros(len(train_labels), bool), np.ones(len(test_labels), bool)])
    return images, labels, in_test, None


def archive_members(path: Path, wanted: set[str]):
    """(base name, bytes) of the wanted members: from the extracted folder or from the tar archive."""
    if path.is_dir():
        for name in sorted(wanted):
            if (path / name).is_file():
                yield name, (path / name).read_bytes()
        return
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                yield base, archive.extractfile(member).read()


def _read_cifar10(paths: dict[str, Path], dataset_cfg: dict):
    path = paths["cifar-10-python.tar.gz"]
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches, class_names = {}, None
    try:
        # The archive's or the folder's digests were checked against the published ones before unpickling.
        for base, data in archive_members(path, {*names, "batches.meta"}):
            content = pickle.load(io.BytesIO(data), encoding="bytes")
            if base == "batches.meta":
                class_names = [name.decode() for name in content[b"label_names"]]
            else:
                batches[base] = content
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise PublicError(f"{path} is not a readable CIFAR-10 archive ({err}): replace it with the published file, or move it away to have it downloaded") from err
    missing = [name for name in names if name not in batches]
    if missing:
        raise PublicError(f"{path} lacks {missing} (cifar-10-batches-py/...): replace it with the published file, or move it away to have it downloaded")
    images = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
    images = images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # stored as 1024 red, 1024 green, 1024 blue
    labels = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.int64) for n in names])
    in_test = np.concatenate([np.full(len(batches[n][b"labels"]), n == "test_batch") for n in names])
    return np.ascontiguousarray(images), labels, in_test, class_names


def _celeba_table(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    lines = path.read_text().splitlines()
    header, rows = lines[1].split(), [line.split() for line in lines[2:] if line.strip()]
    return header, {row[0]: row[1:] for row in rows}


def centre_crop(image, crop: int, side: int) -> np.ndarray:
    """The centre crop x crop square, resized to side x side: how the DP image benchmarks frame CelebA."""
    from PIL import Image

    width, height = image.size
    left, top = (width - crop) // 2, (height - crop) // 2
    square = image.convert("RGB").crop((left, top, left + crop, top + crop))
    return np.asarray(square.resize((side, side), Image.Resampling.BICUBIC), dtype=np.uint8)


def _read_celeba(paths: dict[str, Path], dataset_cfg: dict):
    from PIL import Image

    attribute, crop, side = dataset_cfg.get("attribute") or "Male", int(dataset_cfg.get("crop") or 140), dataset_cfg["image_size"]
    names, attributes = _celeba_table(paths["list_attr_celeba.txt"])
    if attribute not in names:
        raise PublicError(f"dataset.attribute '{attribute}' is not a CelebA attribute; choose one of {names}")
    partition = {row[0]: int(row[1]) for row in (line.split() for line in paths["list_eval_partition.txt"].read_text().splitlines()) if len(row) == 2}
    column = names.index(attribute)
    decoded = paths["img_align_celeba.zip"].parent / f"decoded_crop{crop}_side{side}.npz"
    if decoded.is_file():  # decoding 202,599 JPEGs takes minutes: done once per crop and side
        cached = load_npz(decoded, required=("images", "files"))
        files, images = [str(f) for f in cached["files"]], cached["images"]
    else:
        files, images, source = [], [], paths["img_align_celeba.zip"]
        try:
            with contextlib.ExitStack() as stack:
                if source.is_dir():  # the extracted img_align_celeba/ folder
                    members, open_member = sorted(p.name for p in source.glob("*.jpg")), lambda name: open(source / name, "rb")
                else:
                    archive = stack.enter_context(zipfile.ZipFile(source))
                    members, open_member = sorted(m for m in archive.namelist() if m.lower().endswith(".jpg")), archive.open
                progress = Progress(len(members), "decoding CelebA", log)
                for member in members:
                    with open_member(member) as handle, Image.open(handle) as image:
                        images.append(centre_crop(image, crop, side))
                    files.append(member.rsplit("/", 1)[-1])
                    progress.update(1)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            # the reader's own text can name an image inside the source: only its type is printed
            raise PublicError(
                f"{paths['img_align_celeba.zip']} is not a readable zip of JPEGs ({type(err).__name__}): replace it with "
                "the published file, or move it away to have it downloaded"
            ) from err
        images = np.stack(images)
        save_npz(decoded, images=images, files=np.asarray(files))
    unlisted = [f for f in files if f not in attributes or f not in partition]
    if unlisted:
        # no count and no name: they describe what the source folder holds (the messages reach the terminal)
        raise PublicError(
            "the CelebA images hold files that list_attr_celeba.txt or list_eval_partition.txt do not list: "
            f"use the published img_align_celeba folder or zip as it is ({paths['img_align_celeba.zip']})"
        )
    absent = sorted(set(partition) - set(files))
    if absent:  # an extracted folder is checked by its names: every listed image must be there
        raise PublicError(
            f"images listed in list_eval_partition.txt are not in {paths['img_align_celeba.zip']}: complete the "
            "folder from img_align_celeba.zip, or put the zip beside it"
        )
    labels = np.asarray([attributes[f][column] == "1" for f in files], dtype=np.int64)
    in_test = np.asarray([partition[f] != 0 for f in files])  # 0 train; 1 valid and 2 test are held out
    return images, labels, in_test, [f"not {attribute}", attribute]


def _idx_files(base: str, md5s: tuple[str, str, str, str], content_md5s: tuple[str, str, str, str]) -> tuple[ArchiveFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(ArchiveFile(name, base + name, md5, content) for name, md5, content in zip(names, md5s, content_md5s))


def _celeba_drive(file_id: str) -> str:
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


PUBLISHED: dict[str, PublishedDataset] = {
    "mnist": PublishedDataset(
        files=_idx_files(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            # the decompressed IDX files (what `gunzip` leaves; loaders that keep them pin these)
            ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
        ),
        image_size=28, channels=1, class_names=tuple(str(d) for d in range(10)), reader=_read_idx_dataset,
        page="http://yann.lecun.com/exdb/mnist/",
        keras=KerasArrays(
            "mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            # as keras.datasets.mnist.load_data pins it (11,490,434 bytes)
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            (("x_train", "train-images-idx3-ubyte.gz"), ("y_train", "train-labels-idx1-ubyte.gz"),
             ("x_test", "t10k-images-idx3-ubyte.gz"), ("y_test", "t10k-labels-idx1-ubyte.gz")),
        ),
    ),
    "fashion_mnist": PublishedDataset(
        files=_idx_files(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
             "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
        ),
        image_size=28, channels=1,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        reader=_read_idx_dataset, page="https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": PublishedDataset(
        files=(
            ArchiveFile(
                "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                folder="cifar-10-batches-py",
                # each member's md5, as torchvision pins them (its CIFAR10 train_list, test_list, meta)
                members=(
                    ("data_batch_1", "c99cafc152244af753f735de768cd75f"), ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                    ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"), ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                    ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"), ("test_batch", "40351d587109b95175f43aff81a1287e"),
                    ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
                ),
            ),
        ),
        image_size=32, channels=3,
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        reader=_read_cifar10, page="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "celeba": PublishedDataset(
        files=(
            # its extracted folder has no published per-image digest: the reader checks its file names
            # against the verified lists (every listed image present, nothing else)
            ArchiveFile("img_align_celeba.zip", _celeba_drive("0B7EVK8r0v71pZjFTYXZWM3FlRnM"), "00d2c5bc6d35e252742224ab0c1e8fcb", folder="img_align_celeba"),
            ArchiveFile("list_attr_celeba.txt", _celeba_drive("0B7EVK8r0v71pblRyaVFSWGxPY0U"), "75e246fa4810816ffd6ee81facbd244c"),
            ArchiveFile("list_eval_partition.txt", _celeba_drive("0B7EVK8r0v71pY0NSMzRuSXJEVkk"), "d32c9cbf5e040fd4025c592c306e6668"),
        ),
        image_size=32, channels=3, class_names=(), reader=_read_celeba,
        page="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped images, Anno, Eval)",
    ),
}


def native_shape(name: str) -> tuple[int, int]:
    """(image_size, channels) a published dataset has (CelebA: its default side after cropping)."""
    return PUBLISHED[name].image_size, PUBLISHED[name].channels


def default_class_names(name: str, dataset_cfg: dict) -> list[str]:
    published = PUBLISHED[name]
    if published.class_names:
        return list(published.class_names)
    attribute = dataset_cfg.get("attribute") or "Male"
    return [f"not {attribute}", attribute]


def _keras_copy(published: PublishedDataset, folder: Path, name: str) -> dict | None:
    """{KERAS: arrays} from Keras' npz when no IDX file is here (found IDX files come first, and a
    download is tried only when neither form is); None otherwise."""
    keras = published.keras
    if keras is None or any(candidates(file, folder, name) for file in published.files):
        return None
    for path in keras_candidates(keras, folder):
        arrays, differ = keras_verified(keras, published.files, path)
        if differ:
            raise PublicError(
                f"{path} is not Keras' {keras.name} as published: its arrays {differ} differ from the official "
                f"content (sha256 {keras.sha256} for the file, or the IDX files' content md5s). Replace it with the "
                f"file from {keras.url}, or put the IDX files from {published.page} in {folder}"
            )
        log.info("%s: reading Keras' %s (%s), which holds the official IDX content", name, keras.name, path)
        return {KERAS: arrays}
    return None


def load_published(dataset_cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The dataset's images, labels, official split (True for its test images) and class names,
    verified (``datasets.py`` makes them its ``LabelledImages``)."""
    name = dataset_cfg["name"]
    published = PUBLISHED[name]
    folder = cache_folder(dataset_cfg)
    paths = _keras_copy(published, folder, name) or {
        file.name: fetch(file, folder, dataset_cfg.get("mirror"), published.page, name, published.keras) for file in published.files
    }
    images, labels, in_test, class_names = published.reader(paths, dataset_cfg)
    class_names = list(dataset_cfg.get("class_names") or class_names or default_class_names(name, dataset_cfg))
    return images, labels, in_test, class_names
