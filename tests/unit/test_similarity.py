"""Linear CKA against the kernel-matrix formulas it is computed without, and its invariances."""

import numpy as np
import pytest

from crl_pipelines.evaluation.similarity import (
    between_experiments,
    cka_matrices,
    linear_cka,
    similarity_sentences,
    unbiased_hsic,
)


def hsic_from_kernels(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """Song et al. (2012), eq. 5, on the N × N kernels themselves."""
    n = len(k)
    k, l = k.copy(), l.copy()  # noqa: E741
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones = np.ones(n)
    return float(
        np.trace(k @ l)
        + (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * ones @ k @ l @ ones
    ) / (n * (n - 3))


def plain_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. (2019)'s linear CKA, biased: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F), centred."""
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def test_the_unbiased_hsic_from_features_equals_the_kernel_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 3))
    y[:, 0] += x[:, 1]
    assert unbiased_hsic(x, y) == pytest.approx(hsic_from_kernels(x @ x.T, y @ y.T), rel=1e-10)
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    expected = hsic_from_kernels(xc @ xc.T, yc @ yc.T) / np.sqrt(
        hsic_from_kernels(xc @ xc.T, xc @ xc.T) * hsic_from_kernels(yc @ yc.T, yc @ yc.T)
    )
    assert linear_cka(x, y) == pytest.approx(expected, rel=1e-10)


def test_a_rotated_and_scaled_copy_scores_one_and_independent_noise_near_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16)) @ rng.normal(size=(16, 16))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-10)
    noise = rng.normal(size=(200, 16))
    assert abs(linear_cka(x, noise)) < 0.05
    assert plain_cka(x, noise) > 0.05  # the biased estimator leans away from 0 on few images


def test_on_many_images_the_debiased_and_plain_estimators_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5000, 8))
    y = x[:, :4] @ rng.normal(size=(4, 6)) + 0.5 * rng.normal(size=(5000, 6))
    assert linear_cka(x, y) == pytest.approx(plain_cka(x, y), abs=0.01)


def test_the_matrices_are_symmetric_with_ones_on_the_diagonal_and_nan_for_a_missing_depth():
    rng = np.random.default_rng(3)
    features = {
        "a": {"embedding": rng.normal(size=(40, 4)), "stem": rng.normal(size=(40, 6))},
        "b": {"embedding": rng.normal(size=(40, 4))},
    }
    noisy = features["a"]["embedding"] + 0.2 * rng.normal(size=(40, 4))
    features["c"] = {"embedding": noisy}
    matrices = cka_matrices(features, ["embedding", "stem"])
    embedding = matrices["embedding"]
    assert np.allclose(np.diag(embedding), 1.0) and np.allclose(embedding, embedding.T)
    assert embedding[0, 2] > 0.8 > abs(embedding[0, 1])
    assert np.isnan(matrices["stem"][0, 1]) and matrices["stem"][0, 0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 4 images"):
        linear_cka(np.ones((3, 2)), np.ones((3, 2)))
    few = cka_matrices(
        {"a": {"embedding": np.eye(3)}, "b": {"embedding": np.eye(3)}}, ["embedding"]
    )
    assert np.isnan(few["embedding"]).all()  # three test images: no estimate, no failure


def test_experiments_are_compared_by_their_runs_mean_and_seeds_with_each_other():
    matrix = np.array(
        [[1.0, 0.9, 0.3, 0.5], [0.9, 1.0, 0.5, 0.7], [0.3, 0.5, 1.0, 0.2], [0.5, 0.7, 0.2, 1.0]]
    )
    experiments = ["a", "a", "b", "floor"]
    pairs = between_experiments(matrix, experiments)
    assert pairs == {
        ("a", "a"): 0.9, ("a", "b"): pytest.approx(0.4), ("a", "floor"): pytest.approx(0.6),
        ("b", "floor"): 0.2,
    }  # fmt: skip
    first, second = similarity_sentences(matrix, experiments)
    assert "the most alike are a and floor (0.60), the least alike b and floor (0.20)." in first
    assert second == "Seeds of one loss agree (mean CKA between its seeds): a 0.90."
