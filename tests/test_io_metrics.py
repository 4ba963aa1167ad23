import numpy as np
import pytest

from private_evolution.io import CorruptFileError, load_embeddings, load_npz, load_population, save_npz
from private_evolution.metrics.measures import feature_statistics, frechet_distance


def test_truncated_file_names_itself_and_the_fix(tmp_path):
    path = tmp_path / "population.npz"
    save_npz(path, images=np.zeros((4, 8, 8, 1), np.uint8), labels=np.zeros(4, int))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptFileError, match=r"population\.npz.*--rerun-incomplete"):
        load_population(path)


def test_missing_arrays(tmp_path):
    save_npz(tmp_path / "x.npz", other=np.zeros(2))
    with pytest.raises(CorruptFileError, match=r"lacks the arrays \['features', 'labels'\]"):
        load_npz(tmp_path / "x.npz", required=("features", "labels"))


def test_nan_embeddings_rejected(tmp_path):
    features = np.ones((5, 3), np.float32)
    features[2, 1] = np.nan
    save_npz(tmp_path / "e.npz", features=features, labels=np.zeros(5, int))
    with pytest.raises(CorruptFileError, match="1 embeddings with NaN"):
        load_embeddings(tmp_path / "e.npz")


def test_save_leaves_no_temporary_files(tmp_path):
    save_npz(tmp_path / "a.npz", x=np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_frechet_distance_of_known_gaussians():
    # Diagonal covariances commute: FD = |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + 0
    assert frechet_distance(mean_a, np.diag(var_a), mean_b, np.diag(var_b)) == pytest.approx(expected)


def test_frechet_distance_general_covariances(rng):
    # A rotated covariance: S_b = R S_a R^T; compare with the scipy sqrtm formula.
    from scipy.linalg import sqrtm

    a = rng.normal(size=(6, 6))
    b = rng.normal(size=(6, 6))
    cov_a, cov_b = a @ a.T, b @ b.T
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    reference = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * sqrtm(cov_a @ cov_b).real)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(reference, rel=1e-6)


def test_frechet_distance_with_singular_covariances(rng):
    # Pixel features: border pixels are 0 in every image, so both covariances are singular
    # (the symmetric form takes a square root of S_b: its zero eigenvalues must stay harmless).
    a = rng.random((300, 40))
    b = rng.random((200, 40)) ** 2
    a[:, :7], b[:, :9] = 0.0, 0.0
    (mean_a, cov_a), (mean_b, cov_b) = feature_statistics(a), feature_statistics(b)
    general = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0.0, None)).sum()
    reference = ((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * general
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(reference, rel=1e-9)
    assert frechet_distance(mean_b, cov_b, mean_a, cov_a) == pytest.approx(reference, rel=1e-9)


def test_frechet_distance_of_samples(rng):
    x = rng.normal(size=(4000, 4))
    assert frechet_distance(*feature_statistics(x), *feature_statistics(x)) == pytest.approx(0.0, abs=1e-8)
    shifted = frechet_distance(*feature_statistics(x), *feature_statistics(x + 2.0))
    assert shifted == pytest.approx(16.0, rel=1e-6)
