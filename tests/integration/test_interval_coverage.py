"""Coverage by simulation: for each kind of score, 200 samples drawn from a population whose
value is known, each given its interval by the method its registry entry names, with the
battery's own resampling and batched code; the nominal 95 % interval must cover the true value
in 90 % to 99 % of the samples."""

import math

import numpy as np
import pytest

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.scores import SCORES
from crl_pipelines.evaluation.uncertainty import interval, resample_rows

SAMPLES, RESAMPLES, CONFIDENCE = 200, 200, 0.95


def coverage(draw, score, truth: float, method: str, images: int) -> float:
    """The share of ``SAMPLES`` samples (``draw(rng)`` → the data) whose interval of ``score``
    (``score(data, rows)`` → the value on each resample's rows, ``rows=None``: the sample)
    holds ``truth``."""
    rng = np.random.default_rng(20261207)
    covered = 0
    for sample in range(SAMPLES):
        data = draw(rng)
        rows = resample_rows(method, images, RESAMPLES, seed=sample)
        low, high = interval(score(data, rows), CONFIDENCE, method, score(data, None)[0])
        covered += low <= truth <= high
    return covered / SAMPLES


def test_an_accuracys_percentile_interval_covers_its_true_rate():
    """A per-image right/wrong score (probe or kNN accuracy): images right with probability
    0.85, the mean of each resample's rows."""
    assert SCORES["probe_accuracy"].interval == "percentile"
    images, rate = 300, 0.85

    def accuracy(right, rows):
        return right[None].mean(axis=1) if rows is None else right[rows].mean(axis=1)

    found = coverage(lambda rng: (rng.random(images) < rate).astype(float), accuracy, rate,
                     "percentile", images)  # fmt: skip
    assert 0.90 <= found <= 0.99, found


def test_a_pairwise_scores_percentile_interval_covers_its_true_value():
    """Uniformity (every pair of distinct images) of points on a half circle, their angles
    uniform on [0, π]: the difference Δ of two angles has the triangle density (π − |Δ|) / π²
    and ‖u − v‖² = 2 − 2 cos Δ, so the truth is one integral (scipy's quad). (On the whole
    sphere every point's mean kernel is the same, the score's spread is of order 1/n, not
    1/√n, and no bootstrap is fit for it.)"""
    from scipy.integrate import quad

    assert SCORES["uniformity"].interval == "percentile"
    images, t = 150, 2.0
    mean, _ = quad(
        lambda d: math.exp(-t * (2 - 2 * math.cos(d))) * (math.pi - abs(d)) / math.pi**2,
        -math.pi, math.pi,
    )  # fmt: skip
    truth = math.log(mean)

    def half_circle(rng):
        angles = rng.uniform(0, math.pi, images)
        return np.column_stack([np.cos(angles), np.sin(angles)])

    def uniformity(x, rows):
        weights = np.ones((1, images)) if rows is None else metrics.resample_weights(rows, images)
        return metrics.resampled_uniformity(x, weights, t)

    found = coverage(half_circle, uniformity, truth, "percentile", images)
    assert 0.90 <= found <= 0.99, found


# A population of correlated features: Σ_ij = 0.6^|i−j| (an AR(1) correlation), mean zero.
FEATURES, IMAGES = 6, 400
SIGMA = 0.6 ** np.abs(np.subtract.outer(np.arange(FEATURES), np.arange(FEATURES)))


def gaussian(rng: np.random.Generator) -> np.ndarray:
    return rng.multivariate_normal(np.zeros(FEATURES), SIGMA, size=IMAGES)


def rankme(covariance: np.ndarray) -> float:
    """RankMe of a mean-zero population: its singular values are √ of Σ's eigenvalues."""
    singular = np.sqrt(np.linalg.eigvalsh(covariance))
    p = singular / singular.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def on_resamples(statistic):
    """``statistic(moments)`` on the sample (``rows=None``) or on each resample's rows."""

    def score(x, rows):
        if rows is None:
            return np.array([statistic(metrics.moments(x))])
        weights = metrics.resample_weights(rows, len(x))
        return np.array([statistic(metrics.moments(x, w)) for w in weights])

    return score


@pytest.mark.parametrize(
    ("name", "statistic", "truth"),
    [
        (
            "mean_vif",
            lambda stats: float(metrics.variance_inflation_factors(stats).mean()),
            float((np.diag(np.linalg.inv(SIGMA)) * np.diag(SIGMA)).mean()),
        ),
        ("effective_rank", metrics.effective_rank, rankme(SIGMA)),
    ],
)
def test_a_covariance_scores_half_sample_interval_covers_its_true_value(name, statistic, truth):
    """Mean VIF (1 / (1 − R²) is Σ⁻¹ᵢᵢ Σᵢᵢ) and RankMe (the entropy of √ of Σ's eigenvalues) of
    a Gaussian population: scores that repeated rows bias, so their entry names half-samples."""
    assert SCORES[name].interval == "subsample"
    found = coverage(gaussian, on_resamples(statistic), truth, "subsample", IMAGES)
    assert 0.90 <= found <= 0.99, found


def test_the_percentile_bootstrap_misses_a_biased_covariance_score_that_half_samples_cover():
    """Why mean VIF is not a percentile score: with 12 features of 400 images, repeated rows
    inflate every resample's collinearity, and the percentile interval, which still holds its
    estimate, covers the truth in about half the samples (0.555 here)."""
    features = 12
    sigma = 0.6 ** np.abs(np.subtract.outer(np.arange(features), np.arange(features)))
    truth = float((np.diag(np.linalg.inv(sigma)) * np.diag(sigma)).mean())

    def draw(rng):
        return rng.multivariate_normal(np.zeros(features), sigma, size=IMAGES)

    vif = on_resamples(lambda stats: float(metrics.variance_inflation_factors(stats).mean()))
    assert coverage(draw, vif, truth, "percentile", IMAGES) < 0.75
    assert 0.90 <= coverage(draw, vif, truth, "subsample", IMAGES) <= 0.99
