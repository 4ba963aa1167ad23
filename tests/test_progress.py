"""Progress on the terminal: counts from public stages, only percent and times from private ones;
file and config errors of a private stage on the terminal, anything else in its private log."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

from private_evolution import PEError, PublicError
from private_evolution import progress as progress_module
from private_evolution.logs import stage_logging
from private_evolution.progress import Progress, duration, terminal


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_loop(total: int, seconds: float = 95.0, batch: int = 256, every: float = 10.0, total_is_public: bool = False) -> None:
    """A loop over ``total`` items in batches that takes ``seconds`` whatever ``total`` is."""
    clock = FakeClock()
    progress = Progress(total, "effnet_lite0 embedding", every_seconds=every, clock=clock, total_is_public=total_is_public)
    done = 0
    while done < total:
        step = min(batch, total - done)
        done += step
        clock.now = seconds * done / total
        progress.update(step)


def run_decoding(total: int, seconds_per_item: float = 0.02) -> None:
    """A loop whose every item takes the same time, as decoding or embedding images does: the
    run time, and the fraction done at a given second, follow the total."""
    clock = FakeClock()
    progress = Progress(total, "decoding the image folder", clock=clock)
    for _ in range(total):
        clock.now += seconds_per_item
        progress.update(1)


def terminal_lines(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line.strip()]


def masked(line: str) -> str:
    line = re.sub(r"^\S+ \S+ ", "", line)  # the time stamp
    return re.sub(r"\d+", "#", line)


def test_private_progress_prints_no_count(capfd, caplog):
    """A private stage's terminal lines for N and N + 1 private images read the same but for the
    times: no count, no rate, no percent, no class."""
    outputs = {}
    for total in (12345, 12346):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="private_evolution"), terminal("embed_real private", private=True):
            run_loop(total)
        outputs[total] = terminal_lines(capfd)
        # the private log keeps the whole line (count, rate)
        assert any(f"{total}/{total} images" in record.getMessage() for record in caplog.records)
    small, large = outputs[12345], outputs[12346]
    assert len(small) == len(large) >= 9  # every ~10 s over 95 s, and the end
    assert [masked(line) for line in small] == [masked(line) for line in large]
    for line in small + large:
        assert "[embed_real private] effnet_lite0 embedding: " in line
        assert "1234" not in line and "/s" not in line and "images" not in line and "%" not in line
        assert re.search(r": (running, .* elapsed|done in .*)$", line), line
    assert small[-1].endswith("effnet_lite0 embedding: done in 1 min 35 s")
    assert small[0].endswith("effnet_lite0 embedding: running, 12 s elapsed")


def test_private_progress_of_a_source_of_undeclared_size_does_not_give_the_size(capfd):
    """Each item takes the same time (decoding a source data set of M images, M declared nowhere):
    a percent printed at a given second would differ between M and M + 1 (25/50/75% against
    24/49/74/99%). The lines carry only times, which are the same to the second."""
    outputs = {}
    for total in (1900, 1901):
        with terminal("prepare_private", private=True):
            run_decoding(total)
        outputs[total] = [re.sub(r"^\S+ \S+ ", "", line) for line in terminal_lines(capfd)]
    assert outputs[1900] == outputs[1901]
    assert outputs[1900][-1] == "INFO [prepare_private] decoding the image folder: done in 38 s"
    assert len(outputs[1900]) == 4


def test_the_vote_prints_percent_done_of_its_declared_total(capfd):
    """The vote walks dataset.num_private (or a shard of it: bounds from public values), a size
    the config declares, so its terminal lines may say how far it got."""
    with terminal("vote eps_1 t=1", private=True):
        run_loop(4000, seconds=25.0, total_is_public=True)
    lines = terminal_lines(capfd)
    assert [masked(line) for line in lines] == [
        "INFO [vote eps_# t=#] effnet_lite# embedding: #% done, # s elapsed, about # s left",
        "INFO [vote eps_# t=#] effnet_lite# embedding: #% done, # s elapsed, about # s left",
        "INFO [vote eps_# t=#] effnet_lite# embedding: done in # s",
    ]
    assert "4000" not in "".join(lines)


def test_public_progress_prints_counts_and_rate(capfd):
    """A public stage (vary, embedding the synthetic population) prints count, rate and time left
    through its log's stderr handler, every ~10 s and at the end."""
    with stage_logging(None, "embed shared"):
        run_loop(3000, seconds=30.0)
    lines = terminal_lines(capfd)
    assert len(lines) == 3
    assert lines[0].endswith("[embed shared] effnet_lite0 embedding: 1024/3000 images, 100.0 images/s, 20 s left")
    assert lines[-1].endswith("3000/3000 images, 100.0 images/s, 0 s left")


def test_a_short_private_loop_puts_nothing_on_the_terminal(capfd):
    with terminal("vote eps_1 t=1", private=True):
        run_loop(1000, seconds=2.0)
    assert terminal_lines(capfd) == []


def test_private_stage_progress_reaches_the_terminal(tmp_path, capfd):
    log = tmp_path / "results" / "x" / "private" / "logs" / "embed_real.log"
    with stage_logging(str(log), "embed_real private"):
        run_loop(5000, seconds=25.0)
    lines = terminal_lines(capfd)
    assert lines[0] == f"[embed_real private] reads private data: its messages are in {log} (private)"
    assert [masked(line) for line in lines[1:]] == [masked(line) for line in [
        "stamp time INFO [embed_real private] effnet_lite0 embedding: running, # s elapsed",
        "stamp time INFO [embed_real private] effnet_lite0 embedding: running, # s elapsed",
        "stamp time INFO [embed_real private] effnet_lite0 embedding: done in # s",
    ]]
    assert "5000/5000 images" in log.read_text()  # the counts stay in the private log
    assert progress_module._TERMINAL is None  # the stage's terminal ends with it


def test_durations_read_at_a_glance():
    assert [duration(s) for s in (0.4, 42, 198, 7500, float("nan"))] == ["0 s", "42 s", "3 min 18 s", "2 h 05 min", "?"]


def test_private_stage_file_and_config_errors_reach_the_terminal(tmp_path, capfd):
    """A missing file or a wrong dtype quotes nothing of the data: its message is printed; any other
    error of a private stage stays in the private log."""
    from private_evolution.stages.prepare_private import prepare_private

    log = tmp_path / "results" / "x" / "private" / "logs" / "prepare_private.log"
    missing = {"name": "npz", "path": str(tmp_path / "nowhere.npz"), "class_names": ["a", "b"], "image_size": 4, "channels": 1}
    with pytest.raises(SystemExit):
        with stage_logging(str(log), "prepare_private"):
            prepare_private(missing, str(tmp_path / "private.npz"), None)
    err = capfd.readouterr().err
    assert f"[prepare_private] failed: dataset.path '{tmp_path / 'nowhere.npz'}' does not exist" in err
    assert f"(also in {log}, private)" in err

    floats = tmp_path / "floats.npz"
    np.savez(floats, images=np.zeros((7, 4, 4), np.float32), labels=np.zeros(7, np.int64))
    with pytest.raises(SystemExit):
        with stage_logging(str(log), "prepare_private"):
            prepare_private({**missing, "path": str(floats)}, str(tmp_path / "private.npz"), None)
    err = capfd.readouterr().err
    assert "images are float32, not uint8" in err and "(N, H, W)" in err
    assert not (tmp_path / "private.npz").exists()

    with pytest.raises(SystemExit):
        with stage_logging(str(log), "prepare_private"):
            raise PEError("class 'b' is empty: 'data/b' holds no image")  # a fact about the private data
    err = capfd.readouterr().err
    assert "class 'b'" not in err and f"failed: the reason is in {log} (private)" in err
    assert "class 'b' is empty" in log.read_text()


def test_public_errors_are_the_user_fixable_kind():
    assert issubclass(PublicError, PEError)


def test_the_vote_walks_the_private_set_in_file_order(monkeypatch):
    """Its progress advances by whole batches of the private set, however the labels fall: the
    fraction done never marks the end of a class."""
    from private_evolution import vote

    updates = []

    class Recorder(Progress):
        def update(self, count):
            updates.append(count)
            super().update(count)

    monkeypatch.setattr(vote, "Progress", Recorder)
    rng = np.random.default_rng(0)
    synthetic, synthetic_labels = rng.normal(size=(40, 5)), np.arange(40) % 4
    private = rng.normal(size=(2500, 5))
    for labels in (np.sort(rng.integers(0, 4, 2500)), rng.integers(0, 4, 2500), np.zeros(2500, int)):
        updates.clear()
        counts = vote.nearest_neighbor_counts(private, labels, synthetic, synthetic_labels, k=2, batch_size=1024)
        assert updates == [1024, 1024, 452] and counts.sum() == 2 * 2500
        # the same counts as one search per private sample
        for label in range(4):
            pool = np.flatnonzero(synthetic_labels == label)
            distances = ((private[labels == label, None, :] - synthetic[None, pool, :]) ** 2).sum(-1)
            expected = np.bincount(pool[np.argsort(distances, axis=1, kind="stable")[:, :2]].ravel(), minlength=40)
            assert np.array_equal(counts[pool], expected[pool])


def test_image_folder_decoding_reports_progress(tmp_path, monkeypatch):
    from PIL import Image

    from private_evolution import datasets

    for name, count in (("a", 3), ("b", 2)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(tmp_path / name / f"{i}.png")
    totals = []

    class Recorder(Progress):
        def __init__(self, total, what, *args, **kwargs):
            totals.append((total, what))
            super().__init__(total, what, *args, **kwargs)

    monkeypatch.setattr(datasets, "Progress", Recorder)
    data = datasets.load_image_folder({"path": str(tmp_path), "image_size": 4, "channels": 1, "class_names": None})
    assert totals == [(5, f"decoding image_folder '{tmp_path}'")] and data.labels.tolist() == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("images_in_a", [0, 1])
def test_a_missing_class_folder_is_reported_whatever_the_other_classes_hold(tmp_path, images_in_a):
    """Which message reaches the terminal must not depend on private content: a class without a
    folder is found before any folder's images are looked at, so an empty class 'a' (a private
    fact, an error kept in the private log) never decides between the two messages."""
    from PIL import Image

    from private_evolution.datasets import load_dataset

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "b" / "0.png")
    for index in range(images_in_a):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "a" / f"{index}.png")
    config = {"name": "image_folder", "path": str(tmp_path), "class_names": ["a", "b", "c"], "image_size": 4, "channels": 1}
    with pytest.raises(PublicError, match="class 'c' has no folder"):
        load_dataset(config)


def test_a_private_stages_warnings_stay_in_its_private_log(tmp_path, capfd):
    """A library's warning can tell of the private data (PIL on one private palette PNG, numpy on one
    embedding beyond float32): in a private stage it goes to the private log, never the terminal."""
    import sys
    import warnings

    def to_stderr(message, category, filename, lineno, file=None, line=None):
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr, end="")

    log = tmp_path / "results" / "x" / "private" / "logs" / "prepare_private.log"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = to_stderr  # as Python shows them outside pytest, which records them itself
        with stage_logging(str(log), "prepare_private"):
            warnings.warn("Palette images with Transparency expressed in bytes should be converted to RGBA images")
        assert "Palette" not in capfd.readouterr().err
        assert "UserWarning: Palette images with Transparency" in log.read_text()
        with stage_logging(str(tmp_path / "logs" / "select.log"), "select"):  # a public stage's stay visible
            warnings.warn("a public remark")
        assert "a public remark" in capfd.readouterr().err
