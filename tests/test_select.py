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
