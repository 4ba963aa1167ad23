"""A bad input fails before any job that loads the data starts, so nothing finished is lost;
the npz class-names rule; a cache_dir the user named must exist."""

import os
import shutil

import numpy as np
import pytest

from private_evolution import PEError
from private_evolution.config import load_config
from private_evolution.datasets import check_source, load_npz_dataset
from private_evolution.published import cache_folder
from private_evolution.stages.check_source import check_id
from workflow_helpers import planned_jobs, snakemake, tiny_config, write_config


def npz_cfg(path, **changes):
    cfg = {"name": "npz", "path": str(path), "class_names": ["0", "1"], "image_size": 8, "channels": 1, "cache_dir": None}
    return cfg | changes


def save(path, images, labels=None, **extra):
    np.savez(path, images=images, labels=np.arange(len(images)) % 2 if labels is None else labels, **extra)
    return path


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"images": np.zeros((6, 8, 8), np.float32)}, r"images are float32, not uint8.*astype\(np.uint8\)"),
        ({"images": np.zeros((6, 8, 8, 2), np.uint8)}, "images have 4 axes"),
        ({"images": np.zeros((6, 8, 8), np.uint8), "labels": np.zeros(5, int)}, "one integer per image"),
        ({"images": np.zeros((6, 8, 8), np.uint8), "labels": np.zeros(6, np.float32)}, "one integer per image"),
        ({"images": np.zeros((6, 9, 9), np.uint8)}, r"shape \(9, 9, 1\).*image_size=8"),
        ({"images": np.zeros((6, 8, 8), np.uint8), "class_names": np.array(["a", "b"])}, "names its classes.*must be equal"),
    ],
)
def test_npz_checked_from_its_headers(tmp_path, arrays, message):
    path = save(tmp_path / "data.npz", **arrays)
    with pytest.raises(PEError, match=message) as err:
        check_source(npz_cfg(path))
    assert str(path) in str(err.value)


def test_header_errors_never_print_the_number_of_images(tmp_path):
    """check_source's messages are public: a mistaken layout puts the number of images (private)
    in the last axis, and a damaged header's own text holds it; neither reaches the message."""
    for count in (1000, 999):
        for images in (np.zeros((8, 8, 3, count), np.uint8), np.zeros(count * 64, np.uint8)):
            path = save(tmp_path / f"layout{count}_{images.ndim}.npz", images, labels=np.zeros(count, np.int64))
            with pytest.raises(PEError, match="axes") as err:
                check_source(npz_cfg(path))
            assert str(count) not in str(err.value).replace(str(path), "") and str(count * 64) not in str(err.value)
    damaged = tmp_path / "damaged.npz"
    save(damaged, np.zeros((1000, 8, 8), np.uint8))
    raw = damaged.read_bytes().replace(b"(1000, 8, 8)", b"(1000, 8, 8, ")  # a header the reader cannot parse
    damaged.write_bytes(raw)
    with pytest.raises(PEError) as err:
        check_source(npz_cfg(damaged))
    assert "1000" not in str(err.value).replace(str(damaged), "")


def test_npz_missing_or_not_an_npz(tmp_path):
    with pytest.raises(PEError, match="does not exist: point dataset.path"):
        check_source(npz_cfg(tmp_path / "nothing.npz"))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(PEError, match="not a readable .npz"):
        check_source(npz_cfg(tmp_path / "text.npz"))
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(PEError, match="no 'labels' array"):
        check_source(npz_cfg(tmp_path / "nolabels.npz"))
    good = save(tmp_path / "good.npz", np.zeros((6, 8, 8, 1), np.uint8))
    assert "uint8" in check_source(npz_cfg(good))
    np.savez_compressed(tmp_path / "compressed.npz", images=np.zeros((6, 8, 8), np.uint8), labels=np.zeros(6, np.int32))
    check_source(npz_cfg(tmp_path / "compressed.npz"))


def test_image_folder_must_be_named_and_exist(tmp_path):
    for path in (None, "", str(tmp_path / "nowhere")):
        with pytest.raises(PEError, match="is not a folder"):
            check_source({"name": "image_folder", "path": path})
    assert "exists" in check_source({"name": "image_folder", "path": str(tmp_path)})


def test_check_id_follows_only_the_checked_fields(tmp_path):
    cfg = npz_cfg(tmp_path / "a.npz") | {"num_private": 10, "num_heldout": 5}
    assert check_id(cfg) == check_id(cfg | {"num_heldout": 7, "num_private": 3, "cache_dir": "elsewhere"})
    assert check_id(cfg) != check_id(cfg | {"path": str(tmp_path / "b.npz")})


def test_the_check_format_names_the_check_so_a_raised_format_makes_it_anew(tmp_path, monkeypatch):
    """A finished run's check file no longer matches after the format is raised: the data jobs see a
    new input and rerun in the same invocation as the check (not masked behind an existing file)."""
    from private_evolution.stages import check_source

    cfg = npz_cfg(tmp_path / "a.npz")
    before = check_id(cfg)
    monkeypatch.setattr(check_source, "CHECK_FORMAT", check_source.CHECK_FORMAT + 1)
    assert check_id(cfg) != before and len(check_id(cfg)) == 16


def test_npz_class_names_rule(tmp_path):
    """The config's dataset.class_names, or the file's 'class_names' array when the config names none;
    both given: they must be equal; neither: an error saying both ways."""
    named = save(tmp_path / "named.npz", np.zeros((6, 8, 8), np.uint8), class_names=np.array(["cat", "dog"]))
    bare = save(tmp_path / "bare.npz", np.zeros((6, 8, 8), np.uint8))

    def dataset(path, **options):
        raw = {"dataset": {"name": "npz", "path": str(path), "image_size": 8, "channels": 1, "num_private": 2, "num_heldout": 2, **options},
               "api": {"name": "diffusion_unet", "diffusion_unet": {"model": "m"}}, "evaluation": {"embedders": ["pixels"]}}
        return load_config({"experiments": {"x": raw}})["x"].section("dataset")

    assert dataset(named)["class_names"] == ["cat", "dog"]  # from the file
    assert load_npz_dataset(dataset(named)).class_names == ["cat", "dog"]
    assert load_npz_dataset(dataset(named, class_names=["cat", "dog"])).class_names == ["cat", "dog"]
    with pytest.raises(PEError, match="must be equal"):
        load_npz_dataset(dataset(named, class_names=["a", "b"]))
    assert load_npz_dataset(dataset(bare, class_names=["a", "b"])).class_names == ["a", "b"]  # from the config
    with pytest.raises(PEError, match="class_names is required.*'class_names' array"):
        dataset(bare)


def test_cache_dir_named_by_the_user_must_exist(tmp_path, monkeypatch):
    missing = tmp_path / "typo"
    with pytest.raises(PEError, match=f"dataset.cache_dir '{missing}' does not exist"):
        check_source({"name": "mnist", "cache_dir": str(missing)})
    assert not missing.exists()
    (tmp_path / "cache").mkdir()
    assert cache_folder({"name": "mnist", "cache_dir": str(tmp_path / "cache")}) == tmp_path / "cache" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # the default: made when needed, never an error
    assert cache_folder({"name": "mnist", "cache_dir": None}) == tmp_path / "xdg" / "pe-workflow" / "datasets" / "mnist"


def test_bad_input_fails_before_a_finished_split_is_removed(finished_run, tmp_path):
    """A finished run pointed at an npz of float images: the run fails in check_source, naming the file
    and the fix; the private splits stay as they were, and restoring the config reruns no vote.
    On a copy: the failed job's log must not stay in the run other tests read."""
    workdir, config = tmp_path / "run", tiny_config()
    shutil.copytree(finished_run, workdir, symlinks=True)
    private = sorted((workdir / "results" / "tiny" / "private").glob("*.npz"))
    assert {path.name for path in private} >= {"private.npz", "heldout.npz"}
    before = {path: os.stat(path).st_mtime_ns for path in private}
    bad = tmp_path / "float.npz"
    np.savez(bad, images=np.random.default_rng(0).random((500, 28, 28)).astype(np.float32), labels=np.arange(500) % 10)
    broken = tiny_config()
    broken["experiments"]["tiny"]["dataset"] |= {"name": "npz", "path": str(bad), "class_names": [str(d) for d in range(10)]}
    write_config(workdir, broken)
    try:
        result = snakemake(workdir, "--cores", "2", check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert f"'{bad}': images are float32, not uint8" in output and "astype(np.uint8)" in output
        assert "prepare_private" not in output.split("Error in rule", 1)[-1].split("\n", 1)[0]
        assert {path: os.stat(path).st_mtime_ns for path in private} == before
    finally:
        write_config(workdir, config)
    planned = planned_jobs(workdir)
    assert not {rule for rule in planned if rule.startswith(("vote", "prepare", "embed_real", "select", "vary"))}, planned


def test_glyph_simulator_limit_says_what_to_do():
    raw = {"dataset": {"name": "fashion_mnist", "num_private": 10, "num_heldout": 4}, "evaluation": {"embedders": ["pixels"]}}
    with pytest.raises(PEError, match=r"cannot make classes \['T-shirt/top'.*short alias.*dataset.class_names.*stable_diffusion"):
        load_config({"experiments": {"x": raw}})
    aliases = ["T", "Tr", "Pu", "Dr", "Co", "Sa", "Sh", "Sn", "Ba", "An"]
    raw["dataset"]["class_names"] = aliases
    assert load_config({"experiments": {"x": raw}})["x"].dataset.class_names == aliases
