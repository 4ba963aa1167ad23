"""The image-folder export: what a user loads with ImageFolder, Hugging Face imagefolder or the CSV."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from private_evolution import PEError
from private_evolution.export import CARD, LABELS_CSV, class_folders, export_image_folder, export_npz

AWKWARD = ["T-shirt/top", "not Male", "..", "", "a/../../b", "Ünïcode name", "x" * 200, "3", "3", ".hidden", "ok", "C:\\x"]


def load_back(folder: Path) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """The export read as a user's loader would: the CSV's rows, each file opened with PIL."""
    with open(folder / LABELS_CSV, newline="") as handle:
        rows = list(csv.DictReader(handle))
    images = np.stack([np.asarray(Image.open(folder / row["file"])) for row in rows])
    return images, np.array([int(row["label"]) for row in rows]), rows


def imagefolder_labels(folder: Path) -> dict[str, int]:
    """torchvision's ImageFolder (and Hugging Face's imagefolder): classes are the sorted sub-folder names."""
    return {name: index for index, name in enumerate(sorted(p.name for p in folder.iterdir() if p.is_dir()))}


def test_class_folders_are_safe_distinct_and_sort_in_label_order():
    folders = class_folders(AWKWARD)
    assert folders[:3] == ["00_T-shirt_top", "01_not_Male", "02_class"]
    assert len(set(folders)) == len(folders) and sorted(folders) == folders
    for name in folders:
        assert "/" not in name and "\\" not in name and " " not in name and not name.startswith(".")
        assert len(name) <= 70 and name.isascii()
    assert class_folders([str(i) for i in range(101)])[5] == "005_5"  # width follows the class count


@pytest.mark.parametrize("channels", [1, 3])
def test_export_loads_back_pixel_for_pixel(tmp_path, channels):
    rng = np.random.default_rng(channels)
    images = rng.integers(0, 256, size=(40, 9, 7, channels), dtype=np.uint8)
    labels = rng.integers(0, len(AWKWARD), size=40)
    out = tmp_path / "export"
    assert export_image_folder(images, labels, AWKWARD, out, card="# card\n") == 40
    loaded, loaded_labels, rows = load_back(out)
    assert np.array_equal(loaded.reshape(images.shape), images) and np.array_equal(loaded_labels, labels)
    by_folder = imagefolder_labels(out)
    assert len(by_folder) == len(AWKWARD)  # a folder per class, empty ones included
    for row in rows:
        folder = row["file"].split("/")[0]
        assert folder == row["folder"] and by_folder[folder] == int(row["label"]) and row["class_name"] == AWKWARD[int(row["label"])]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [CARD, LABELS_CSV]
    assert not [p for p in tmp_path.iterdir() if p.name != "export"]  # no temporary folder left


def test_export_refuses_a_non_empty_folder_and_writes_into_an_empty_one(tmp_path):
    images, labels = np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1])
    out = tmp_path / "export"
    out.mkdir()
    export_image_folder(images, labels, ["a", "b"], out, card="x")  # empty: used
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(PEError, match="refusing to export into .*export.* not an empty folder"):
        export_image_folder(images, labels, ["c", "d"], out, card="y")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # nothing mixed in
    (tmp_path / "file").write_text("")
    with pytest.raises(PEError, match="refusing to export"):
        export_image_folder(images, labels, ["a", "b"], tmp_path / "file", card="x")
    with pytest.raises(PEError, match="labels must lie in 0..0"):
        export_image_folder(images, labels, ["a"], tmp_path / "other", card="x")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("present", ["labels.csv", ".hidden", "00_a/0.png"])
def test_export_into_a_folder_holding_anything_is_refused_and_mixes_nothing(tmp_path, present):
    """A labels.csv, a hidden file or an earlier export's image: the folder is not empty, so nothing
    is written into it (an export is never versioned into or mixed with other files)."""
    out = tmp_path / "export"
    (out / present).parent.mkdir(parents=True, exist_ok=True)
    (out / present).write_text("theirs")
    with pytest.raises(PEError, match="refusing to export into .*not an empty folder"):
        export_image_folder(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), ["a", "b"], out, card="x")
    assert [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()] == [present]
    assert (out / present).read_text() == "theirs" and [p.name for p in tmp_path.iterdir()] == ["export"]


def test_a_file_appearing_while_exporting_is_not_mixed_in(tmp_path, monkeypatch):
    """The folder is checked again just before the finished export moves into place."""
    out = tmp_path / "export"
    out.mkdir()
    original = Image.Image.save

    def save_and_intrude(self, *args, **kwargs):
        (out / "intruder.txt").write_text("late")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_and_intrude)
    with pytest.raises(PEError, match="refusing to export into"):
        export_image_folder(np.zeros((2, 4, 4, 1), np.uint8), np.array([0, 1]), ["a", "b"], out, card="x")
    assert [p.name for p in out.iterdir()] == ["intruder.txt"] and [p.name for p in tmp_path.iterdir()] == ["export"]


def test_export_command_reads_class_names_from_the_npz(tmp_path):
    images = np.arange(3 * 5 * 5 * 3, dtype=np.uint8).reshape(3, 5, 5, 3)
    np.savez(tmp_path / "set.npz", images=images, labels=np.array([1, 0, 1]), class_names=np.array(["cat/dog", "bird"]))
    run = [sys.executable, "-m", "private_evolution.export", str(tmp_path / "set.npz"), str(tmp_path / "out")]
    assert subprocess.run(run, capture_output=True, text=True, check=True).stdout.startswith("exported 3 images")
    loaded, labels, rows = load_back(tmp_path / "out")
    assert np.array_equal(loaded, images) and labels.tolist() == [1, 0, 1]
    assert [row["folder"] for row in rows] == ["01_bird", "00_cat_dog", "01_bird"]
    assert "not a release" in (tmp_path / "out" / CARD).read_text()
    again = subprocess.run(run, capture_output=True, text=True)
    assert again.returncode != 0 and "refusing to export" in again.stderr
    with pytest.raises(PEError, match="class_names"):
        np.savez(tmp_path / "bare.npz", images=images, labels=np.array([1, 0, 1]))
        export_npz(tmp_path / "bare.npz", tmp_path / "bare")


def test_export_refuses_files_under_a_private_folder(tmp_path):
    source = tmp_path / "results" / "x" / "private" / "private.npz"
    source.parent.mkdir(parents=True)
    np.savez(source, images=np.zeros((2, 4, 4, 1), np.uint8), labels=np.zeros(2, np.int64), class_names=np.array(["a"]))
    with pytest.raises(PEError, match="private/ folder"):
        export_npz(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
