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


def test_a_larger_selection_keeps_balanced_classes_and_the_weights(rng):
    """pe.final_samples: the last selection draws M ids for a population of balanced labels
    (arange(M) % classes, as RANDOM_API labels); each id is a candidate of its place's class,
    drawn in proportion to the weights; no output labels: the candidates' own (as before)."""
    from private_evolution.apis import balanced_labels

    labels = balanced_labels(30, 3)
    weights = np.where(np.arange(30) < 15, 1.0, 3.0)
    weights[labels == 2] = 0.0  # a class with no vote left: uniform, and reported
    out_labels = balanced_labels(3000, 3)
    ids, uniform = resample_ids(weights, labels, rng, out_labels)
    assert len(ids) == 3000 and (labels[ids] == out_labels).all() and uniform == [2]
    for label in (0, 1):  # the ids of the class's upper half are three times as likely
        picked = ids[out_labels == label]
        assert (picked >= 15).mean() == pytest.approx(0.75, abs=0.05)
    assert set(ids[out_labels == 2]) == set(np.flatnonzero(labels == 2))  # uniform: every candidate
    same = resample_ids(weights, labels, np.random.default_rng(3))[0]
    assert np.array_equal(same, resample_ids(weights, labels, np.random.default_rng(3), labels)[0])


def test_a_class_without_candidates_is_refused(rng):
    with pytest.raises(ValueError, match="candidates of that class"):
        resample_ids(np.ones(4), np.array([0, 0, 1, 1]), rng, np.array([0, 1, 2]))


def test_the_stage_draws_the_size_it_is_given(tmp_path):
    """The select stage with ``size``: that many ids; with size N (or none): the same ids as before."""
    from private_evolution.io import load_selection, save_votes
    from private_evolution.stages.select import select

    votes = tmp_path / "votes.npz"
    labels = np.arange(40) % 4
    save_votes(votes, np.ones(40), np.linspace(0.1, 1.0, 40), labels)
    select(str(votes), 2, 1.0, 7, str(tmp_path / "n.npz"))
    select(str(votes), 2, 1.0, 7, str(tmp_path / "same.npz"), size=40, num_classes=4)
    select(str(votes), 2, 1.0, 7, str(tmp_path / "m.npz"), size=130, num_classes=4)
    assert np.array_equal(load_selection(tmp_path / "n.npz"), load_selection(tmp_path / "same.npz"))
    larger = load_selection(tmp_path / "m.npz")
    assert len(larger) == 130 and (labels[larger] == np.arange(130) % 4).all()
