"""Bad private data gives one clear message naming the problem, and loses nothing already computed."""

import logging

import numpy as np
import pytest
from PIL import Image

from private_evolution import PEError
from private_evolution.io import CorruptFileError, save_embeddings
from private_evolution.stages.prepare_private import prepare_private
from private_evolution.stages.vote import vote


def write_png(path, size=16, mode="L", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), value if mode == "L" else (value, 0, 0)).save(path)


def make_folder(root, classes=("a", "b"), per_class=6, size=16):
    for name in classes:
        for i in range(per_class):
            write_png(root / name / f"{i}.png", size=size, value=20 * i)
    return root


def folder_cfg(root, **changes):
    cfg = {
        "name": "image_folder", "path": str(root), "class_names": None, "image_size": 16, "channels": 1,
        "num_private": 8, "num_heldout": 2, "split_seed": 0,
    }
    cfg.update(changes)
    if cfg["class_names"] is None:
        cfg["class_names"] = sorted(p.name for p in root.iterdir() if p.is_dir())
    return cfg


def run_prepare(cfg, out):
    prepare_private(cfg, str(out / "private.npz"), str(out / "heldout.npz"))


def assert_nothing_written(out):
    assert sorted(p.name for p in out.iterdir()) == ["earlier_result.npz"]


@pytest.fixture
def out(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "earlier_result.npz").write_bytes(b"kept")
    return out


def test_image_folder_loads(tmp_path, out):
    root = make_folder(tmp_path / "data")
    run_prepare(folder_cfg(root), out)
    with np.load(out / "private.npz") as private:
        assert private["images"].shape == (8, 16, 16, 1)
        assert set(private["labels"]) == {0, 1}


def test_truncated_png(tmp_path, out):
    root = make_folder(tmp_path / "data")
    broken = root / "b" / "3.png"
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(PEError, match=r"'.*b/3\.png' is not a readable image.*remove or replace it"):
        run_prepare(folder_cfg(root), out)
    assert_nothing_written(out)


def test_non_image_file_is_skipped_with_a_warning(tmp_path, out, caplog):
    root = make_folder(tmp_path / "data")
    (root / "a" / "notes.txt").write_text("not an image")
    with caplog.at_level(logging.WARNING, logger="private_evolution"):
        run_prepare(folder_cfg(root), out)
    assert "skipped 1 files that are not images" in caplog.text and "notes.txt" in caplog.text


def test_image_file_that_is_not_an_image(tmp_path, out):
    root = make_folder(tmp_path / "data")
    (root / "a" / "fake.png").write_text("hello")
    with pytest.raises(PEError, match=r"fake\.png' is not a readable image"):
        run_prepare(folder_cfg(root), out)
    assert_nothing_written(out)


def test_grayscale_rgb_mix_is_converted(tmp_path, out, caplog):
    root = make_folder(tmp_path / "data")
    write_png(root / "a" / "colour.png", mode="RGB")
    with caplog.at_level(logging.WARNING, logger="private_evolution"):
        run_prepare(folder_cfg(root, num_private=9), out)
    assert "converted 1 of 13 images to 16x16 with 1 channel" in caplog.text
    rgb_out = out / "rgb"
    run_prepare(folder_cfg(root, channels=3, num_private=9), rgb_out)
    with np.load(rgb_out / "private.npz") as private:
        assert private["images"].shape[1:] == (16, 16, 3)


def test_empty_class(tmp_path, out):
    root = make_folder(tmp_path / "data")
    (root / "c").mkdir()
    with pytest.raises(PEError, match=r"class 'c' is empty"):
        run_prepare(folder_cfg(root), out)
    assert_nothing_written(out)


def test_image_far_larger_than_configured(tmp_path, out):
    root = make_folder(tmp_path / "data")
    write_png(root / "b" / "huge.png", size=16 * 20)
    with pytest.raises(PEError, match=r"huge\.png' is 320x320 pixels, far larger than dataset.image_size=16"):
        run_prepare(folder_cfg(root), out)
    assert_nothing_written(out)


def test_path_with_spaces_and_quotes(tmp_path, out):
    root = make_folder(tmp_path / "my data \"set\" 'v2'", classes=("one", "two words"))
    run_prepare(folder_cfg(root), out)
    assert (out / "private.npz").is_file()


def test_nan_in_embeddings_stops_the_vote(tmp_path):
    features = np.ones((10, 4), np.float32)
    features[3] = np.nan
    save_embeddings(tmp_path / "private_embed.npz", features, np.zeros(10, int))
    save_embeddings(tmp_path / "population.npz", np.ones((5, 4), np.float32), np.zeros(5, int))
    from private_evolution.io import read_json, write_json
    from private_evolution.stages.calibrate import calibrate

    calibrate({"delta": 1e-5, "adjacency": "add_remove", "seed_mode": "secret", "seed": 0}, 1.0, 1, 1, {"votes": 0, "sigmas": 0}, str(tmp_path / "privacy.json"), bins=5)
    write_json(tmp_path / "preparation.json", {"preparation_id": "x#1", "random": "0" * 32})
    with pytest.raises(CorruptFileError, match=r"private_embed\.npz' holds 1 embeddings with NaN"):
        vote(
            str(tmp_path / "private_embed.npz"), str(tmp_path / "population.npz"), str(tmp_path / "privacy.json"),
            "x", 1, str(tmp_path / "ledger" / "private"), str(tmp_path / "preparation.json"), "code",
            str(tmp_path / "votes.npz"), str(tmp_path / "private" / "draw.json"),
        )
    assert not (tmp_path / "votes.npz").exists()
    # the draw was recorded before the counts were read: whether the data are readable changes no count
    assert read_json(tmp_path / "ledger" / "privacy_spend.json")["dp_draws"] == 1


def test_npz_dataset(tmp_path, out):
    path = tmp_path / "data.npz"
    np.savez(path, images=np.zeros((20, 16, 16), np.uint8), labels=np.arange(20) % 2)
    cfg = folder_cfg(tmp_path, name="npz", path=str(path), class_names=["0", "1"])
    run_prepare(cfg, out)
    with np.load(out / "private.npz") as private:
        assert private["images"].shape == (8, 16, 16, 1)


def test_private_images_the_embedder_cannot_embed_do_not_fail_the_job(tmp_path, monkeypatch, capfd):
    """Whether a private job succeeds may not depend on one private image: features that come
    back NaN/inf become the zero vector there (the count in the private log only); for public
    images (a population) the same features are refused."""
    from private_evolution.io import load_embeddings, save_images
    from private_evolution.logs import stage_logging
    from private_evolution.stages import embed as embed_stage

    class Flaky:  # NaN for the image whose first pixel is 7
        name, feature_dim = "flaky", 3

        def embed(self, images):
            features = images.reshape(len(images), -1)[:, :3].astype(np.float32)
            features[images.reshape(len(images), -1)[:, 0] == 7] = np.nan
            return features

    monkeypatch.setattr(embed_stage, "make_embedder", lambda settings: Flaky())
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4, 1) % 8
    images[:, 0, 0, 0] = [1, 7, 2, 7, 3]
    save_images(tmp_path / "set.npz", images, np.arange(5))
    (tmp_path / "private").mkdir()
    log = tmp_path / "private" / "embed.log"
    with stage_logging(str(log), "embed_real"):
        embed_stage.embed(str(tmp_path / "set.npz"), str(tmp_path / "private" / "emb.npz"), {"name": "flaky"})
    features, _ = load_embeddings(tmp_path / "private" / "emb.npz")
    assert (features[[1, 3]] == 0).all() and (features[[0, 2, 4]] != 0).any(axis=1).all()
    assert "2 of 5 private images" in log.read_text()
    assert "of 5" not in capfd.readouterr().err
    with pytest.raises(PEError, match="NaN/inf for 2 of 5 images"):
        embed_stage.embed(str(tmp_path / "set.npz"), str(tmp_path / "emb.npz"), {"name": "flaky"})
