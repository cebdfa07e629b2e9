"""Unit tests for the representation scores (evaluation/metrics.py) against direct or library
references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.outliers_influence import variance_inflation_factor

from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.metrics import (
    PROBE_L2_STRENGTHS,
    class_distance_matrix,
    class_separation,
    correlation_matrix,
    linear_probe,
    mean_abs_correlation,
    moments,
    normalized_between_class_distances,
    normalized_vif,
    pca_explained,
    pca_projection,
    resample_weights,
    resampled_class_distances,
    resampled_uniformity,
    swept_linear_probe,
    uniformity,
    variance_inflation_factors,
    weighted_knn_predictions,
)
from crl_pipelines.evaluation.settings import ScoringSettings


def correlated_data(rows=200, seed=0):
    """200×6 features where feature 4 is a noisy combination of features 0, 1 and 2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    x[:, 1] += 0.5 * x[:, 0]
    x[:, 4] = x[:, 0] - 2.0 * x[:, 1] + 0.5 * x[:, 2] + 0.3 * rng.normal(size=rows)
    return x


def statsmodels_vif(x):
    """statsmodels' VIF of every feature of ``x``, on an exog with a constant column prepended."""
    exog = sm.add_constant(x, has_constant="add")
    with warnings.catch_warnings():  # exactly collinear exogs divide by ~0 inside statsmodels
        warnings.simplefilter("ignore")
        return np.array([variance_inflation_factor(exog, i) for i in range(1, exog.shape[1])])


def lstsq_vif(x, feature):
    """1 / (1 − R²) of feature regressed on all the others with an intercept, by least squares."""
    target = x[:, feature]
    design = np.column_stack([np.ones(len(x)), np.delete(x, feature, axis=1)])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coefficients
    r_squared = 1.0 - residual @ residual / ((target - target.mean()) ** 2).sum()
    return 1.0 / (1.0 - r_squared)


# ---------------------------------------------------------------------------------------------
# VIF
# ---------------------------------------------------------------------------------------------


def test_vif_matches_statsmodels_on_correlated_data():
    """The closed form equals statsmodels' variance_inflation_factor with a constant column, and
    the correlated features really are inflated (so the test is not comparing ones with ones)."""
    x = correlated_data()
    vif = variance_inflation_factors(moments(x))
    expected = statsmodels_vif(x)
    np.testing.assert_allclose(vif, expected, rtol=1e-6)
    assert vif[4] > 5.0
    assert vif[3] < 1.2


def test_vif_matches_direct_regression():
    """VIF_i = 1 / (1 − R²_i) with R²_i from an intercept regression on the other features."""
    x = correlated_data(seed=1)
    vif = variance_inflation_factors(moments(x))
    expected = [lstsq_vif(x, i) for i in range(x.shape[1])]
    np.testing.assert_allclose(vif, expected, rtol=1e-6)


def test_vif_exact_collinearity_is_inf_and_others_unchanged():
    """Feature 3 = feature 0 + feature 1: those three have VIF inf; features outside the group
    keep the finite VIF of their regression on all others (statsmodels' pseudo-inverse OLS on the
    full data, and a direct least-squares R²)."""
    x = correlated_data(seed=2)
    x[:, 3] = x[:, 0] + x[:, 1]
    vif = variance_inflation_factors(moments(x))
    collinear = [0, 1, 3]
    others = [2, 4, 5]
    assert np.isinf(vif[collinear]).all()
    assert np.isfinite(vif[others]).all()
    reference = statsmodels_vif(x)
    assert np.isfinite(reference[others]).all()
    np.testing.assert_allclose(vif[others], reference[others], rtol=1e-6)
    np.testing.assert_allclose(vif[others], [lstsq_vif(x, i) for i in others], rtol=1e-6)
    # Feature 4 is correlated with the collinear group, so its VIF is well above 1 and would be
    # wrong if the redundant column were dropped from its regressors' span.
    assert vif[4] > 5.0


def test_vif_duplicate_column_and_second_collinear_group():
    """Two separate exact dependencies (f3 = f0 + f1, f5 = 2·f2): all five members are inf and the
    remaining feature keeps its own finite VIF."""
    x = correlated_data(seed=3)
    x[:, 3] = x[:, 0] + x[:, 1]
    x[:, 5] = 2.0 * x[:, 2]
    vif = variance_inflation_factors(moments(x))
    assert np.isinf(vif[[0, 1, 2, 3, 5]]).all()
    assert vif[4] == pytest.approx(lstsq_vif(x, 4), rel=1e-6)


def test_vif_constant_feature_is_inf_without_error():
    """A constant feature has no R²: its VIF is inf, no exception or warning, and the other
    features' VIFs are those of the data without it."""
    x = correlated_data(seed=4)
    x[:, 2] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vif = variance_inflation_factors(moments(x))
    assert np.isinf(vif[2])
    rest = [0, 1, 3, 4, 5]
    assert np.isfinite(vif[rest]).all()
    np.testing.assert_allclose(vif[rest], statsmodels_vif(x[:, rest]), rtol=1e-6)


def test_vif_all_constant_is_all_inf():
    """Embeddings with no variance at all give inf everywhere instead of crashing."""
    vif = variance_inflation_factors(moments(np.ones((20, 3))))
    assert vif.shape == (3,)
    assert np.isinf(vif).all()


def test_normalized_vif_max_finite_is_one():
    """normalized_vif divides by the largest finite VIF: that one becomes 1, others scale, infs
    stay inf."""
    vif = np.array([2.0, 8.0, np.inf, 4.0])
    normalized = normalized_vif(vif)
    np.testing.assert_allclose(normalized[[0, 1, 3]], [0.25, 1.0, 0.5])
    assert np.isinf(normalized[2])
    real = normalized_vif(variance_inflation_factors(moments(correlated_data())))
    assert real.max() == pytest.approx(1.0)
    assert (real > 0).all()
    all_inf = np.full(3, np.inf)
    assert np.isinf(normalized_vif(all_inf)).all()


# ---------------------------------------------------------------------------------------------
# class distances
# ---------------------------------------------------------------------------------------------


def blobs(per_class=(6, 9, 5), dim=3, spread=1.0, seed=0):
    """Gaussian blobs around well-separated class centres, rows shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(per_class)), per_class)
    centres = 6.0 * rng.normal(size=(len(per_class), dim))
    x = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return x[order], labels[order]


def distance_reference(x, labels, num_classes):
    """Mean Euclidean distance per class pair by a double loop over samples, without self-pairs."""
    sums = np.zeros((num_classes, num_classes))
    counts = np.zeros((num_classes, num_classes))
    for i in range(len(x)):
        for j in range(len(x)):
            if i == j:
                continue
            distance = math.sqrt(sum((a - b) ** 2 for a, b in zip(x[i], x[j], strict=True)))
            sums[labels[i], labels[j]] += distance
            counts[labels[i], labels[j]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


@pytest.mark.parametrize("block_size", [1, 7, 2048])
def test_class_distance_matrix_matches_double_loop(block_size):
    """The blocked computation equals the per-sample double loop, for blocks smaller than N
    (including ragged last blocks) and one block covering everything."""
    x, labels = blobs()
    distances = class_distance_matrix(x, labels, 3, block_size=block_size)
    np.testing.assert_allclose(distances, distance_reference(x, labels, 3), rtol=1e-9)
    np.testing.assert_allclose(distances, distances.T, rtol=1e-12)


def test_class_distance_matrix_single_member_class_diagonal_is_nan():
    """A class with one member has no distinct within-class pair: its diagonal entry is NaN, and
    its between-class entries are still the loop values."""
    x, labels = blobs(per_class=(4, 1, 5))
    distances = class_distance_matrix(x, labels, 3, block_size=4)
    expected = distance_reference(x, labels, 3)
    assert np.isnan(distances[1, 1])
    np.testing.assert_allclose(distances, expected, rtol=1e-9)


def copies_reference(x, labels, rows, num_classes):
    """The class distances of a resample by a double loop over its rows, pairs of copies of one
    image (the same row drawn twice) left out like self-pairs."""
    sums, counts = np.zeros((num_classes, num_classes)), np.zeros((num_classes, num_classes))
    for a in rows:
        for c in rows:
            if a != c:
                sums[labels[a], labels[c]] += math.dist(x[a], x[c])
                counts[labels[a], labels[c]] += 1
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


@pytest.mark.parametrize("block_size", [1, 6, 2048])
def test_resampled_class_distances_match_a_loop_per_resample(block_size):
    """Every resample's class distance matrix, all from one pass over the pairs, equals the double
    loop over that resample's rows; a resample without two images of a class is NaN there."""
    x, labels = blobs(per_class=(5, 7, 4), seed=3)
    rng = np.random.default_rng(4)
    rows = rng.integers(0, len(x), size=(6, len(x)))
    rows[5] = np.flatnonzero(labels != 2)[0]  # one image, drawn every time
    matrices = resampled_class_distances(x, labels, 3, resample_weights(rows, len(x)), block_size)
    assert matrices.shape == (6, 3, 3)
    for b in range(6):
        expected = copies_reference(x, labels, rows[b], 3)
        np.testing.assert_allclose(matrices[b], expected, rtol=1e-9)
    assert np.isnan(matrices[5]).all()


def uniformity_reference(x, rows, t):
    """log mean exp(−t‖u−v‖²) over pairs of distinct images of a resample, by a loop, in
    log-sum-exp form (scipy), so that a large t does not underflow."""
    from scipy.special import logsumexp

    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    exponents = [-t * ((z[a] - z[c]) ** 2).sum() for a in rows for c in rows if a != c]
    return float(logsumexp(exponents) - math.log(len(exponents)))


@pytest.mark.parametrize("t", [2.0, 2000.0])
@pytest.mark.parametrize("block_size", [1, 7, 2048])
def test_resampled_uniformity_matches_a_loop_per_resample(t, block_size):
    """Every resample's uniformity, from one pass over the pairs, equals the loop over its pairs
    of distinct images, at t = 2 and at a t where exp(−t‖u−v‖²) underflows in float64."""
    x, _ = blobs(per_class=(6, 6, 6), seed=5)
    rows = np.random.default_rng(6).integers(0, len(x), size=(5, len(x)))
    values = resampled_uniformity(x, resample_weights(rows, len(x)), t, block_size)
    for b in range(5):
        assert values[b] == pytest.approx(uniformity_reference(x, rows[b], t), rel=1e-9)
    whole = uniformity_reference(x, range(len(x)), t)
    assert uniformity(x, t, block_size) == pytest.approx(whole, rel=1e-9)
    assert math.isnan(resampled_uniformity(x, resample_weights(np.zeros((1, 4), int), 18), t)[0])


def test_class_separation_is_mean_off_diagonal_over_mean_diagonal():
    """separation = mean off-diagonal ÷ mean diagonal, and it is large for separated blobs."""
    x, labels = blobs()
    distances = class_distance_matrix(x, labels, 3, block_size=5)
    off = [distances[i, j] for i in range(3) for j in range(3) if i != j]
    expected = (sum(off) / len(off)) / (sum(distances[i, i] for i in range(3)) / 3)
    assert class_separation(distances) == pytest.approx(expected, rel=1e-12)
    assert class_separation(distances) > 2.0


def test_normalized_between_class_distances():
    """One entry per distinct class pair, each D[i, j] ÷ max(D), all in [0, 1]."""
    x, labels = blobs(per_class=(5, 6, 4, 7), seed=1)
    distances = class_distance_matrix(x, labels, 4, block_size=6)
    values = normalized_between_class_distances(distances)
    assert values.shape == (4 * 3 // 2,)
    assert ((values >= 0) & (values <= 1)).all()
    expected = sorted(distances[i, j] / distances.max() for i in range(4) for j in range(i))
    np.testing.assert_allclose(sorted(values), expected, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# correlation
# ---------------------------------------------------------------------------------------------


def test_correlation_matrix_matches_corrcoef():
    """Pearson correlation equals np.corrcoef, and the mean |r| is over distinct pairs only."""
    x = correlated_data()
    corr = correlation_matrix(moments(x))
    expected = np.corrcoef(x, rowvar=False)
    np.testing.assert_allclose(corr, expected, rtol=1e-10, atol=1e-12)
    off = np.abs(expected[~np.eye(6, dtype=bool)])
    assert mean_abs_correlation(corr) == pytest.approx(off.mean(), rel=1e-10)


def test_correlation_constant_feature_is_nan_and_mean_stays_finite():
    """A constant feature's row and column are NaN, the rest equals np.corrcoef on the other
    features, and mean_abs_correlation ignores the NaNs."""
    x = correlated_data(seed=5)
    x[:, 1] = -2.0
    corr = correlation_matrix(moments(x))
    assert np.isnan(corr[1, :]).all()
    assert np.isnan(corr[:, 1]).all()
    rest = [0, 2, 3, 4, 5]
    expected = np.corrcoef(x[:, rest], rowvar=False)
    np.testing.assert_allclose(corr[np.ix_(rest, rest)], expected, rtol=1e-10, atol=1e-12)
    mean = mean_abs_correlation(corr)
    assert np.isfinite(mean)
    assert mean == pytest.approx(np.abs(expected[~np.eye(5, dtype=bool)]).mean(), rel=1e-10)


# ---------------------------------------------------------------------------------------------
# linear probe
# ---------------------------------------------------------------------------------------------


def test_linear_probe_matches_sklearn_pipeline():
    """The probe's accuracy equals a StandardScaler + LogisticRegression pipeline fitted directly,
    on overlapping classes where accuracy is neither 0 nor 1."""
    train_x, train_y = blobs(per_class=(40, 40, 40), dim=4, spread=6.0, seed=2)
    test_x, test_y = blobs(per_class=(30, 30, 30), dim=4, spread=6.0, seed=2)
    accuracy = linear_probe(train_x, train_y, test_x, test_y)
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    expected = reference.fit(train_x, train_y).score(test_x, test_y)
    assert accuracy == pytest.approx(expected, abs=1e-12)
    assert 0.0 < accuracy < 1.0


def test_linear_probe_separates_blobs():
    """Well-separated blobs are (nearly) perfectly linearly classified."""
    rng = np.random.default_rng(3)
    centres = 10.0 * np.eye(4)
    train_y = rng.integers(0, 4, size=120)
    test_y = rng.integers(0, 4, size=80)
    train_x = centres[train_y] + rng.normal(size=(120, 4))
    test_x = centres[test_y] + rng.normal(size=(80, 4))
    assert linear_probe(train_x, train_y, test_x, test_y) >= 0.98


# ---------------------------------------------------------------------------------------------
# PCA
# ---------------------------------------------------------------------------------------------


def test_pca_explained_on_train_equals_sklearn_ratio():
    """With test == train the explained curve is sklearn's cumulative explained_variance_ratio_
    (ratios, so the ddof difference cancels); the projection is the first two PCA coordinates."""
    x = correlated_data()
    pca = PCA().fit(x)
    explained = pca_explained(moments(x), pca.components_)
    np.testing.assert_allclose(explained, np.cumsum(pca.explained_variance_ratio_), atol=1e-6)
    projection = pca_projection(x, pca)
    assert projection.shape == (len(x), 2)
    np.testing.assert_allclose(projection, pca.transform(x)[:, :2], atol=1e-9)


def test_pca_explained_on_held_out_data():
    """On other test data the curve is the share of the test variance captured by the train
    components: increasing, ending at 1 with all components, and the projection uses the train
    mean and basis."""
    train = correlated_data(seed=6)
    test = correlated_data(rows=50, seed=7) + 1.5
    pca = PCA().fit(train)
    explained = pca_explained(moments(test), pca.components_)
    coordinates = (test - train.mean(axis=0)) @ pca.components_.T
    captured = coordinates.var(axis=0)
    expected = np.cumsum(captured) / (test - test.mean(axis=0)).var(axis=0).sum()
    np.testing.assert_allclose(explained, expected, rtol=1e-10)
    assert explained[-1] == pytest.approx(1.0)
    assert (np.diff(explained) >= 0).all()
    np.testing.assert_allclose(pca_projection(test, pca), pca.transform(test)[:, :2], atol=1e-9)


def test_moments_of_a_resample_equal_those_of_its_rows():
    """A resample given as counts of the full set's rows has the mean, covariance and constant
    features of its rows written out with their repeats (numpy's ddof-0 covariance)."""
    x = correlated_data(rows=40, seed=8)
    x[:, 5] = np.where(np.arange(40) < 20, 1.0, 2.0)  # constant on the first half only
    rows = np.random.default_rng(9).integers(0, 20, 40)
    drawn = moments(x, np.bincount(rows, minlength=40))
    np.testing.assert_allclose(drawn.mean, x[rows].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        drawn.covariance, np.cov(x[rows], rowvar=False, ddof=0), rtol=1e-10, atol=1e-14
    )
    assert drawn.constant.tolist() == [False] * 5 + [True]
    assert drawn.count == 40


# ---------------------------------------------------------------------------------------------
# score_embeddings
# ---------------------------------------------------------------------------------------------


def test_score_embeddings_scalar_keys_and_values():
    """The battery returns the documented scalar scores, consistent with the parts they come from
    (a constant test feature counts as one infinite VIF)."""
    train_x, train_y = blobs(per_class=(20, 20, 20), dim=4, seed=8)
    test_x, test_y = blobs(per_class=(15, 15, 15), dim=4, seed=9)
    test_x[:, 3] = 0.5
    result = score_embeddings(
        {
            "train_embedding": train_x,
            "test_embedding": test_x,
            "train_labels": train_y,
            "test_labels": test_y,
        },
        ScoringSettings(distance_block_size=8, tsne_sample=20),
    )
    scores = result.scores
    scalar_keys = {
        "probe_accuracy",
        "pca2_variance",
        "class_separation",
        "mean_vif",
        "vif_infinite",
        "mean_abs_correlation",
    }
    assert scalar_keys <= set(scores)
    for key in scalar_keys:
        assert isinstance(scores[key], (int, float)), key
        assert np.isfinite(scores[key]), key
    assert scores["probe_accuracy"] == linear_probe(train_x, train_y, test_x, test_y)
    train_pca = PCA().fit(train_x).components_
    assert scores["pca2_variance"] == pytest.approx(pca_explained(moments(test_x), train_pca)[1])
    distances = distance_reference(test_x, test_y, 3)
    assert scores["class_separation"] == pytest.approx(class_separation(distances), rel=1e-9)
    assert scores["vif_infinite"] == 1
    vif = variance_inflation_factors(moments(test_x))
    assert scores["mean_vif"] == pytest.approx(vif[np.isfinite(vif)].mean())
    assert scores["mean_abs_correlation"] == pytest.approx(
        mean_abs_correlation(correlation_matrix(moments(test_x)))
    )


def test_the_protocol_knn_equals_a_direct_weighted_vote():
    """Each test row: the k most cosine-similar train rows, each voting exp(s / τ) for its class,
    by a plain loop; k above the train size takes every train row."""
    rng = np.random.default_rng(3)
    train_x, test_x = rng.normal(size=(60, 5)), rng.normal(size=(25, 5))
    train_y = rng.integers(0, 4, 60)
    unit = lambda x: x / np.linalg.norm(x)  # noqa: E731
    for k, temperature, block in ((7, 0.1, 4), (200, 0.5, 64)):
        predicted = weighted_knn_predictions(train_x, train_y, test_x, k, temperature, block, 4)
        for row, query in enumerate(test_x):
            similarity = np.array([unit(query) @ unit(other) for other in train_x])
            votes = np.zeros(4)
            for index in np.argsort(-similarity)[: min(k, 60)]:
                votes[train_y[index]] += math.exp(similarity[index] / temperature)
            assert predicted[row] == int(np.argmax(votes)), (k, row)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # LogisticRegressionCV's coming defaults
def test_the_swept_probe_chooses_the_penalty_logistic_regression_cv_chooses_on_a_fixed_split():
    """scikit-learn's LogisticRegressionCV over the same Cs (1/λ, ascending: its first best is
    the strongest penalty, as ours) with the validation rows as its one fold chooses the same
    strength, and the probe is the fit on train at that strength."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import PredefinedSplit

    rng = np.random.default_rng(5)
    centres = rng.normal(scale=0.7, size=(3, 8))
    labels = rng.integers(0, 3, 260)
    x = centres[labels] + rng.normal(size=(260, 8))
    train_x, train_y, val_x, val_y = x[:200], labels[:200], x[200:], labels[200:]
    probe, strength = swept_linear_probe(train_x, train_y, val_x, val_y)
    scaler = StandardScaler().fit(train_x)
    reference = LogisticRegressionCV(
        Cs=[1 / s for s in sorted(PROBE_L2_STRENGTHS, reverse=True)],
        cv=PredefinedSplit(np.r_[np.full(200, -1), np.zeros(60, dtype=int)]),
        scoring="accuracy", max_iter=2000, refit=False,
    ).fit(scaler.transform(x), labels)  # fmt: skip
    assert strength == pytest.approx(1 / reference.C_[0])
    assert len(PROBE_L2_STRENGTHS) >= 10
    assert min(PROBE_L2_STRENGTHS) == 1e-6 and max(PROBE_L2_STRENGTHS) == pytest.approx(1e5)
    direct = LogisticRegression(C=1 / strength, max_iter=2000).fit(
        scaler.transform(train_x), train_y
    )
    assert (probe.predict(val_x) == direct.predict(scaler.transform(val_x))).all()
