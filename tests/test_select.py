import numpy as np
import pytest

from private_evolution.select import resample_ids


def test_class_sizes_are_kept_and_ids_stay_in_class(rng):
    labels = np.array([0, 0, 0, 1, 1, 2])
    weights = np.array([1.0, 2.0, 0.0, 0.0, 5.0, 1.0])
    ids, uniform = resample_ids(weights, labels, rng)
    assert (labels[ids] == labels).all()
    assert uniform == []
    assert 2 not in ids and 3 not in ids  # zero weight, with positive weights beside it


def test_frequencies_follow_weights(rng):
    labels = np.zeros(4, dtype=int)
    weights = np.array([0.0, 1.0, 3.0, 4.0])
    picks = np.concatenate([resample_ids(weights, labels, rng)[0] for _ in range(5000)])
    frequencies = np.bincount(picks, minlength=4) / len(picks)
    assert frequencies == pytest.approx(weights / weights.sum(), abs=0.01)


def test_all_zero_class_is_resampled_uniformly_and_reported(rng):
    labels = np.array([0, 0, 1, 1])
    ids, uniform = resample_ids(np.array([1.0, 1.0, 0.0, 0.0]), labels, rng)
    assert uniform == [1]
    assert set(ids[2:]) <= {2, 3}


def test_negative_weights_rejected(rng):
    with pytest.raises(ValueError):
        resample_ids(np.array([-1.0, 1.0]), np.array([0, 0]), rng)


def test_streams_are_keyed_by_meaning_not_by_folder_names(tmp_path):
    """select draws from (seed, stage, epsilon, iteration): the same epsilon written 1 or 1.0
    is one stream, wherever the files are; another epsilon or iteration is another stream."""
    from private_evolution.io import load_selection, save_votes
    from private_evolution.stages.select import select

    votes = tmp_path / "votes.npz"
    weights = np.linspace(0.0, 1.0, 200)
    save_votes(votes, weights, weights, np.repeat(np.arange(4), 50))

    def ids(epsilon, iteration, folder):
        out = tmp_path / folder / "selected.npz"
        out.parent.mkdir(exist_ok=True)
        select(str(votes), iteration, epsilon, 7, str(out))
        return load_selection(out)

    one = ids(1, 1, "eps_1")
    assert np.array_equal(one, ids(1.0, 1, "renamed_folder"))
    assert not np.array_equal(one, ids(2.0, 1, "eps_2"))
    assert not np.array_equal(one, ids(1.0, 2, "eps_1_again"))
    assert not np.array_equal(ids(float("inf"), 1, "eps_inf"), one)
