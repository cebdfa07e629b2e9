"""Intervals and significance against independent references: a direct resampling loop,
statsmodels' McNemar and Holm, and brute-force pair loops for the resampled pairwise scores."""

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.outliers_influence import variance_inflation_factor

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.report import claims
from crl_pipelines.evaluation.scores import SCORES
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.evaluation.uncertainty import (
    experiment_interval,
    experiment_replicates,
    holm,
    interval,
    mcnemar_p,
    paired_bootstrap_p,
    resample_rows,
    tied_groups,
)

METHODS = ("percentile", "subsample")


def embeddings(seed=0, train=80, test=40, dim=6, classes=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.0, size=(classes, dim))
    train_y, test_y = rng.integers(0, classes, train), np.arange(test) % classes
    return {
        "train_embedding": centres[train_y] + rng.normal(size=(train, dim)),
        "test_embedding": centres[test_y] + rng.normal(size=(test, dim)),
        "train_labels": train_y,
        "test_labels": test_y,
    }


SETTINGS = ScoringSettings(bootstrap_resamples=30, tsne_sample=10, silhouette_sample=40, knn_k=5)


def test_replicates_equal_a_direct_resampling_loop():
    """Each shown score's bootstrap replicates equal the score computed from scratch on the
    resampled test rows (the same rows, drawn from the seed), pairs of copies excluded: brute-force
    pair loops, an SVD, np.corrcoef and statsmodels' VIF."""
    data = embeddings()
    result = score_embeddings(data, SETTINGS)
    train_x, train_y = data["train_embedding"], data["train_labels"]
    knn = metrics.knn_predictions(train_x, train_y, data["test_embedding"], 5, 64, 4)
    off_diagonal = ~np.eye(data["test_embedding"].shape[1], dtype=bool)
    checked = set()
    for method, b in itertools.product(("percentile", "subsample"), (0, 7, 29)):
        resample = resample_rows(method, 40, 30, SETTINGS.seed)[b]
        x, y = data["test_embedding"][resample], data["test_labels"][resample]
        exog = np.column_stack([np.ones(len(x)), x])
        direct = {
            "alignment": _alignment_by_pairs(x, y, resample),
            "class_separation": metrics.class_separation(_distances_by_pairs(x, y, resample, 4)),
            "uniformity": _uniformity_by_pairs(x, resample, SETTINGS.uniformity_t),
            "knn_accuracy": float((knn[resample] == y).mean()),
            "effective_rank": _rankme_by_svd(x),
            "collapse_statistic": float(_unit(x).std(axis=0).mean() * math.sqrt(x.shape[1])),
            "mean_vif": float(np.mean([variance_inflation_factor(exog, i) for i in range(1, 7)])),
            "mean_abs_correlation": float(
                np.abs(np.corrcoef(x, rowvar=False)[off_diagonal]).mean()
            ),
        }
        for name, value in direct.items():
            if result.resampling[name] == method:
                assert result.replicates[name][b] == pytest.approx(value, rel=1e-9), (name, b)
                checked.add(name)
    assert checked == set(direct) and set(result.resampling.values()) == {*METHODS}
    low, high = interval(result.replicates["knn_accuracy"], 0.95)
    assert low <= result.scores["knn_accuracy"] <= high


def _distances_by_pairs(x, y, ids, classes):
    sums, counts = np.zeros((classes, classes)), np.zeros((classes, classes))
    for i, j in itertools.product(range(len(x)), repeat=2):
        if ids[i] != ids[j]:
            sums[y[i], y[j]] += np.linalg.norm(x[i] - x[j])
            counts[y[i], y[j]] += 1
    return sums / counts


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rankme_by_svd(x):
    singular = np.linalg.svd(x, compute_uv=False)
    p = singular / singular.sum()
    return math.exp(-(p * np.log(p)).sum())


def _uniformity_by_pairs(x, ids, t):
    z = metrics.l2_normalize(x)
    kernel = [
        math.exp(-t * ((z[i] - z[j]) ** 2).sum())
        for i, j in itertools.product(range(len(z)), repeat=2)
        if ids[i] != ids[j]
    ]
    return math.log(sum(kernel) / len(kernel))


def _alignment_by_pairs(x, y, ids):
    z = metrics.l2_normalize(x)
    pairs = [
        ((z[i] - z[j]) ** 2).sum()
        for i, j in itertools.product(range(len(z)), repeat=2)
        if y[i] == y[j] and ids[i] != ids[j]
    ]
    return float(np.mean(pairs))


def test_percentile_interval_and_paired_p_match_a_loop():
    """The interval is the 2.5 and 97.5 percentiles; the paired p-value is the observed
    difference over the bootstrap standard error of the differences (a loop), two-sided normal;
    far beyond every resample it is not floored at 1 / (B + 1)."""
    rng = np.random.default_rng(1)
    first, second = rng.normal(0.6, 0.05, 400), rng.normal(0.55, 0.05, 400)
    assert interval(first, 0.95) == pytest.approx(tuple(np.percentile(first, [2.5, 97.5])))
    differences = [a - b for a, b in zip(first, second, strict=True)]
    mean = sum(differences) / len(differences)
    error = math.sqrt(sum((d - mean) ** 2 for d in differences) / (len(differences) - 1))
    for observed in (0.05, 0.5):
        expected = 2 * (1 - NormalDist().cdf(observed / error))
        assert paired_bootstrap_p(first, second, observed) == pytest.approx(expected, rel=1e-6)
    assert 0 < paired_bootstrap_p(first, second, 0.5) < 1 / 401


@pytest.mark.parametrize(("only_first", "only_second"), [(3, 12), (10, 10), (0, 7), (25, 9)])
def test_mcnemar_matches_statsmodels(only_first, only_second):
    first = np.array([True] * only_first + [False] * only_second + [True] * 20 + [False] * 5)
    second = np.array([False] * only_first + [True] * only_second + [True] * 20 + [False] * 5)
    table = [[20, only_first], [only_second, 5]]
    expected = mcnemar(table, exact=True).pvalue
    assert mcnemar_p(first, second) == pytest.approx(expected)


def test_holm_matches_a_hand_computed_example_and_statsmodels():
    """p = 0.01, 0.04, 0.03, 0.005 → sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1 = 0.02, 0.03,
    0.06, 0.06 (monotone)."""
    p = {("a", "b"): 0.01, ("a", "c"): 0.04, ("b", "c"): 0.03, ("a", "d"): 0.005}
    adjusted = holm(p)
    assert adjusted == pytest.approx(
        {("a", "d"): 0.02, ("a", "b"): 0.03, ("b", "c"): 0.06, ("a", "c"): 0.06}
    )
    reference = multipletests(list(p.values()), method="holm")[1]
    assert list(adjusted.values()) == pytest.approx(list(reference))
    assert math.isnan(holm({("a", "b"): math.nan})[("a", "b")])


def test_tied_groups_and_claims_say_only_significant_differences():
    """Groups start at the best remaining experiment and keep those not different from it; the
    sentence says who is tied and who is behind whom, with the adjusted p."""
    adjusted = {("a", "b"): 0.4, ("a", "c"): 0.001, ("b", "c"): 0.2, ("a", "d"): 0.001,
                ("b", "d"): 0.01, ("c", "d"): 0.03}  # fmt: skip
    groups = tied_groups(["a", "b", "c", "d"], adjusted, 0.05)
    assert groups == [["a", "b"], ["c"], ["d"]]
    assert claims(groups, adjusted, 0.05) == (
        "a and b cannot be told apart and lead; c is behind a (Holm-adjusted p ≤ 0.001 < 0.05); "
        "d is behind c (Holm-adjusted p ≤ 0.03 < 0.05)."
    )
    tiny = {**adjusted, ("a", "c"): 7.4e-113}  # a normal tail: reads as a bound, not a number
    assert "c is behind a (Holm-adjusted p < 0.0001 < 0.05)" in claims(groups, tiny, 0.05)


def test_several_seeds_resample_the_seeds_too():
    """With seeds, each resample averages seeds drawn with replacement: identical seeds give
    their own replicates back, and the spread grows with the seeds' disagreement."""
    base = np.linspace(0.5, 0.7, 200)
    assert np.allclose(experiment_replicates([base, base, base], seed=0), base)
    apart = experiment_replicates([base - 0.2, base, base + 0.2], seed=0)
    assert np.std(apart - base) > 0.05


def test_every_shown_score_has_an_interval_on_labelled_data_or_says_why_not():
    result = score_embeddings(embeddings(), SETTINGS)
    shown = [name for name, score in SCORES.items() if score.heading and name not in result.skipped]
    scores = {name for name in shown if SCORES[name].kind == "score"}
    without = {name for name in scores if SCORES[name].interval == "none"}
    assert without == {"vif_infinite"}
    assert set(result.replicates) == scores - without
    assert all(SCORES[name].why_no_interval for name in without)
    for name in scores - without:
        assert np.isfinite(result.replicates[name]).sum() >= 25, name


def test_a_half_sample_interval_is_the_basic_one_and_one_without_its_estimate_is_withheld():
    """Half-samples give 2·estimate − their upper and lower percentiles; an interval that does
    not hold its estimate, or rests on too few resamples with a value, is withheld, with why."""
    values = np.linspace(1.0, 3.0, 401)  # percentiles 2.5 %, 97.5 %: 1.05 and 2.95
    assert interval(values, 0.95, "subsample", 2.0) == pytest.approx((1.05, 2.95))
    assert interval(values + 0.5, 0.95, "subsample", 2.0) == pytest.approx((0.55, 2.45))

    def record(replicates, method="subsample"):
        return {"r": {"experiment": "e", "replicates": {"mean_vif": replicates},
                      "resampling": {"mean_vif": method}}}  # fmt: skip

    low, high, why = experiment_interval(record(values + 0.5), "e", "mean_vif", 2.0, 0.95, 0)
    assert (low, high, why) == (pytest.approx(0.55), pytest.approx(2.45), "")
    shifted = record(values + 1.5)  # the estimate below every resample: a bias beyond the spread
    low, high, why = experiment_interval(shifted, "e", "mean_vif", 2.0, 0.95, 0)
    assert (
        math.isnan(low) and math.isnan(high) and why.startswith("its resamples are biased by +1.5")
    )
    sparse = np.where(np.arange(401) % 5 == 0, np.nan, values)  # 80 % with a value
    assert (
        "only 320 of 401 resamples"
        in experiment_interval(record(sparse, "percentile"), "e", "mean_vif", 2.0, 0.95, 0)[2]
    )
    assert experiment_interval({}, "e", "mean_vif", 2.0, 0.95, 0)[2] == "no resamples"
