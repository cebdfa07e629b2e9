"""Unit tests for the newer representation scores (evaluation/metrics.py) and the scoring battery
(evaluation/battery.py, driven by the registry in evaluation/scores.py), each against an
independent reference: sklearn, torch, or a plain-Python loop."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.neighbors import KNeighborsClassifier

from crl_pipelines.corruptions import CORRUPTIONS, SEVERITIES
from crl_pipelines.encoder_settings import STAGES
from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.context import DEPTHS, Skip
from crl_pipelines.evaluation.scores import SCORES, Score
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.losses import align_uniform
from crl_pipelines.parameters import ParameterError, parse


def labelled_blobs(per_class, dim=5, spread=1.0, scale=2.0, seed=0):
    """Gaussian blobs around random class centres (rows shuffled): continuous data, no ties."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(per_class)), per_class)
    centres = scale * rng.normal(size=(len(per_class), dim))
    x = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return x[order], labels[order]


def unit_rows(x):
    """Rows divided by their Euclidean norm, in plain Python (independent of l2_normalize)."""
    return [[v / math.sqrt(sum(c * c for c in row)) for v in row] for row in x]


def cosine(u, v):
    """Cosine similarity of two vectors, in plain Python."""
    dot = sum(a * b for a, b in zip(u, v, strict=True))
    return dot / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def squared_distance(u, v):
    """Squared Euclidean distance of two vectors, in plain Python."""
    return sum((a - b) ** 2 for a, b in zip(u, v, strict=True))


def map_at_r_reference(x, labels):
    """Musgrave et al.'s P@1 and MAP@R by a loop over queries: exclude the query, sort the others
    by cosine similarity (descending), R = other items of its class, AP@R = (1/R)·Σ_{i≤R}
    P@i·rel_i; queries with R = 0 count for P@1 (a miss) but not for MAP@R."""
    hits_at_1, average_precisions = [], []
    for q in range(len(x)):
        others = sorted((j for j in range(len(x)) if j != q), key=lambda j: -cosine(x[q], x[j]))
        relevant = [labels[j] == labels[q] for j in others]
        hits_at_1.append(float(relevant[0]))
        r = sum(relevant)
        if r == 0:
            continue
        found, total = 0, 0.0
        for i in range(1, r + 1):
            if relevant[i - 1]:
                found += 1
                total += found / i
        average_precisions.append(total / r)
    mean_ap = sum(average_precisions) / len(average_precisions) if average_precisions else math.nan
    return sum(hits_at_1) / len(hits_at_1), mean_ap


# ---------------------------------------------------------------------------------------------
# kNN accuracy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("num_classes", "k"), [(2, 7), (3, 1), (4, 9)])
def test_knn_accuracy_matches_sklearn_cosine_knn(num_classes, k):
    """Accuracy equals sklearn's KNeighborsClassifier(cosine, brute) on overlapping classes; test
    rows whose sklearn vote is tied are dropped first (the two break ties differently); the
    accuracy is neither 0 nor 1."""
    train_x, train_y = labelled_blobs([30] * num_classes, spread=2.0, seed=10 + k)
    test_x, test_y = labelled_blobs([20] * num_classes, spread=2.0, seed=10 + k)
    test_x = test_x + 0.3 * np.random.default_rng(k).normal(size=test_x.shape)
    reference = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
    reference.fit(train_x, train_y)
    neighbour_labels = train_y[reference.kneighbors(test_x, return_distance=False)]
    votes = np.stack([(neighbour_labels == c).sum(axis=1) for c in range(num_classes)], axis=1)
    top_two = np.sort(votes, axis=1)[:, -2:]
    untied = top_two[:, 1] > top_two[:, 0]
    assert untied.sum() >= 0.8 * len(test_x)
    test_x, test_y = test_x[untied], test_y[untied]
    expected = reference.score(test_x, test_y)
    accuracy = metrics.knn_accuracy(train_x, train_y, test_x, test_y, k=k, block_size=7)
    assert accuracy == pytest.approx(expected, abs=1e-12)
    assert 0.0 < accuracy < 1.0


def test_knn_accuracy_tie_goes_to_nearer_neighbour():
    """With k = 2 and one vote each, the class of the nearest neighbour wins, even when it has
    the larger label (a plain argmax of counts would pick class 0)."""
    train_x = np.array([[1.0, 0.0], [0.0, 1.0]])
    train_y = np.array([0, 2])
    test_x = np.array([[0.2, 1.0], [1.0, 0.2]])  # nearest: class 2, then class 0 (and reverse)
    test_y = np.array([2, 0])
    assert metrics.knn_accuracy(train_x, train_y, test_x, test_y, k=2) == 1.0


# ---------------------------------------------------------------------------------------------
# retrieval
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("block_size", [3, 1024])
def test_retrieval_scores_match_loop_on_uneven_classes(block_size):
    """P@1 and MAP@R equal the per-query loop on overlapping classes of sizes 7, 3, 5 and 2, with
    blocks smaller than N and one block; the scores are strictly between 0 and 1."""
    x, labels = labelled_blobs([7, 3, 5, 2], dim=4, spread=1.5, scale=1.5, seed=3)
    scores = metrics.retrieval_scores(x, labels, block_size=block_size)
    precision, mean_ap = map_at_r_reference(x.tolist(), labels.tolist())
    assert scores["precision_at_1"] == pytest.approx(precision, abs=1e-12)
    assert scores["map_at_r"] == pytest.approx(mean_ap, rel=1e-12)
    assert 0.0 < scores["map_at_r"] < 1.0
    assert 0.0 < scores["precision_at_1"] < 1.0


def test_retrieval_scores_perfectly_separated_is_one():
    """Tight classes far apart in direction: every query's R nearest others are its class, so
    MAP@R = P@1 = 1 (and the loop agrees)."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(3), [4, 6, 3])
    x = 5.0 * np.eye(3)[labels] + 0.01 * rng.normal(size=(len(labels), 3))
    scores = metrics.retrieval_scores(x, labels, block_size=5)
    assert scores == {"precision_at_1": 1.0, "map_at_r": 1.0}
    assert map_at_r_reference(x.tolist(), labels.tolist()) == (1.0, 1.0)


def test_retrieval_scores_single_member_class():
    """A one-member class has R = 0: its query is left out of MAP@R but counts as a miss in P@1
    (its nearest other item is never of its class), as the loop reference computes."""
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(3), [4, 1, 5])
    x = 5.0 * np.eye(3)[labels] + 0.01 * rng.normal(size=(len(labels), 3))
    scores = metrics.retrieval_scores(x, labels)
    assert scores["map_at_r"] == pytest.approx(1.0)  # the 9 other queries are perfect
    assert scores["precision_at_1"] == pytest.approx(9 / 10)
    precision, mean_ap = map_at_r_reference(x.tolist(), labels.tolist())
    assert scores["precision_at_1"] == pytest.approx(precision)
    assert scores["map_at_r"] == pytest.approx(mean_ap)


def test_retrieval_scores_all_single_member_classes():
    """When every class has one member no query has R > 0: P@1 is 0 (every nearest other item is
    of another class) and MAP@R is NaN (the function's own no-valid-query branch), not a crash."""
    x = np.random.default_rng(6).normal(size=(5, 3))
    scores = metrics.retrieval_scores(x, np.arange(5))
    assert scores["precision_at_1"] == 0.0
    assert math.isnan(scores["map_at_r"])


# ---------------------------------------------------------------------------------------------
# alignment and uniformity
# ---------------------------------------------------------------------------------------------


def test_alignment_matches_double_loop_over_same_class_pairs():
    """Alignment is the mean squared distance over distinct same-class pairs of L2-normalized
    rows, computed by a double loop (unequal class sizes, one singleton class)."""
    x, labels = labelled_blobs([6, 4, 1, 5], dim=4, seed=7)
    z = unit_rows(x.tolist())
    distances = [
        squared_distance(z[i], z[j])
        for i in range(len(z))
        for j in range(len(z))
        if i != j and labels[i] == labels[j]
    ]
    expected = sum(distances) / len(distances)
    assert metrics.alignment(x, labels) == pytest.approx(expected, rel=1e-10)
    # scale-invariant: it works on the normalized rows
    assert metrics.alignment(3.0 * x, labels) == pytest.approx(expected, rel=1e-10)


def test_alignment_no_pairs_is_nan():
    """With every class a singleton there is no positive pair: NaN."""
    x = np.random.default_rng(8).normal(size=(4, 3))
    assert math.isnan(metrics.alignment(x, np.arange(4)))


def test_uniformity_matches_pair_loop_and_torch_reference():
    """Uniformity equals log mean exp(−t d²) over distinct pairs of normalized rows (plain loop)
    and the independent torch implementation on F.normalize'd rows (which averages over i < j;
    ordered and unordered pairs give the same mean)."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(23, 5))
    z = unit_rows(x.tolist())
    for t in (2.0, 0.5):
        terms = [
            math.exp(-t * squared_distance(z[i], z[j]))
            for i in range(len(z))
            for j in range(len(z))
            if i != j
        ]
        expected = math.log(sum(terms) / len(terms))
        assert metrics.uniformity(x, t=t) == pytest.approx(expected, rel=1e-10)
        reference = align_uniform.uniformity(F.normalize(torch.from_numpy(x), dim=1), t=t)
        assert metrics.uniformity(x, t=t) == pytest.approx(reference.item(), rel=1e-10)


@pytest.mark.parametrize("block_size", [1, 4, 7])
def test_uniformity_blocked_equals_one_block(block_size):
    """Blocks smaller than N (ragged last block included) give the single-block value."""
    x = np.random.default_rng(10).normal(size=(30, 6))
    whole = metrics.uniformity(x, t=2.0, block_size=4096)
    assert metrics.uniformity(x, t=2.0, block_size=block_size) == pytest.approx(whole, rel=1e-12)


def test_uniformity_orders_spread_and_clustered():
    """Rows spread over the sphere are more uniform (lower) than rows bunched in one direction."""
    rng = np.random.default_rng(11)
    spread = rng.normal(size=(200, 8))
    bunched = np.ones(8) + 0.1 * rng.normal(size=(200, 8))
    assert metrics.uniformity(spread) < metrics.uniformity(bunched) - 1.0


# ---------------------------------------------------------------------------------------------
# clustering
# ---------------------------------------------------------------------------------------------


def _labellings():
    """Class/cluster labellings that cover the corner cases of the three agreement scores."""
    rng = np.random.default_rng(12)
    yield "random", rng.integers(0, 10, 360), rng.integers(0, 10, 360)
    yield "unequal sizes", rng.integers(0, 3, 500) ** 2, rng.integers(0, 7, 500)
    classes = rng.integers(0, 4, 200)
    yield "close agreement", classes, np.where(rng.random(200) < 0.9, classes, 4)
    yield "relabelled", classes, (classes + 2) % 4 * 10
    yield "one class", np.zeros(30, int), rng.integers(0, 3, 30)
    yield "one cluster", rng.integers(0, 3, 30), np.full(30, 5)
    yield "one class, one cluster", np.ones(9, int), np.ones(9, int)
    yield "each its own cluster", rng.integers(0, 3, 40), np.arange(40)
    yield "opposed", np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    yield "large", rng.integers(0, 10, 20_000), rng.integers(0, 12, 20_000)


@pytest.mark.parametrize("labels, clusters", [case[1:] for case in _labellings()],
                         ids=[case[0] for case in _labellings()])  # fmt: skip
def test_cluster_agreement_matches_sklearn(labels, clusters):
    """ARI, NMI and AMI from one contingency table equal scikit-learn's three functions, corner
    cases (one class, one cluster, both, a cluster per row) included."""
    scores = metrics.cluster_agreement(labels, clusters)
    assert scores["kmeans_ari"] == pytest.approx(adjusted_rand_score(labels, clusters), abs=1e-12)
    assert scores["kmeans_nmi"] == pytest.approx(
        normalized_mutual_info_score(labels, clusters), abs=1e-12
    )
    assert scores["kmeans_ami"] == pytest.approx(
        adjusted_mutual_info_score(labels, clusters), abs=1e-10
    )


def test_battery_clustering_scores_match_sklearn():
    """The battery's ARI/NMI/AMI are sklearn's on KMeans(k, n_init=4, random_state=seed) fitted
    on train and predicting test; its silhouette is silhouette_score on the seeded sample, whose
    size it reports (the whole test set here, a part of it below)."""
    train_x, train_y = labelled_blobs([25, 25, 25], dim=3, spread=1.5, seed=12)
    test_x, test_y = labelled_blobs([15, 15, 15], dim=3, spread=1.5, seed=12)
    test_x = test_x + 0.5 * np.random.default_rng(13).normal(size=test_x.shape)
    data = {"train_embedding": train_x, "test_embedding": test_x,
            "train_labels": train_y, "test_labels": test_y}  # fmt: skip
    for sample in (500, 20):
        config = CONFIG.model_copy(
            update={"seed": 3, "silhouette_sample": sample, "bootstrap_resamples": 0}
        )
        scores = score_embeddings(data, config).scores
        clusters = KMeans(n_clusters=3, n_init=4, random_state=3).fit(train_x).predict(test_x)
        assert scores["kmeans_ari"] == pytest.approx(adjusted_rand_score(test_y, clusters))
        assert scores["kmeans_nmi"] == pytest.approx(normalized_mutual_info_score(test_y, clusters))
        assert scores["kmeans_ami"] == pytest.approx(adjusted_mutual_info_score(test_y, clusters))
        assert 0.0 < scores["kmeans_ari"] < 1.0
        reference = silhouette_score(test_x, test_y, sample_size=min(sample, 45), random_state=3)
        assert scores["silhouette"] == pytest.approx(reference, rel=1e-10)
        assert scores["silhouette_sample"] == min(sample, 45)


# ---------------------------------------------------------------------------------------------
# effective rank and collapse
# ---------------------------------------------------------------------------------------------


def test_effective_rank_matches_rankme_formula():
    """effective_rank = exp(−Σ p log p), p = σ / Σσ over the singular values (direct formula)."""
    rng = np.random.default_rng(16)
    x = rng.normal(size=(50, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    singular = np.linalg.svd(x, compute_uv=False)
    p = singular / singular.sum()
    expected = math.exp(-sum(v * math.log(v) for v in p))
    assert metrics.effective_rank(metrics.moments(x)) == pytest.approx(expected, rel=1e-8)
    assert 1.0 < expected < 6.0


def test_effective_rank_rank_one_and_isotropic():
    """Rank-1 data has effective rank ≈ 1; an isotropic Gaussian in d dims has nearly d."""
    rng = np.random.default_rng(17)
    rank_one = np.outer(rng.normal(size=200), rng.normal(size=10))
    assert metrics.effective_rank(metrics.moments(rank_one)) == pytest.approx(1.0, abs=1e-6)
    isotropic = rng.normal(size=(5000, 10))
    assert metrics.effective_rank(metrics.moments(isotropic)) == pytest.approx(10.0, rel=0.01)
    assert metrics.effective_rank(metrics.moments(np.zeros((5, 3)))) == 0.0


def test_collapse_statistic_identical_and_isotropic():
    """Identical rows give 0; isotropic Gaussian rows (d = 32, N = 4000) give about 1."""
    rng = np.random.default_rng(18)
    identical = np.tile(rng.normal(size=32), (100, 1))
    assert metrics.collapse_statistic(identical) == pytest.approx(0.0, abs=1e-12)
    isotropic = rng.normal(size=(4000, 32))
    assert metrics.collapse_statistic(isotropic) == pytest.approx(1.0, abs=0.02)


# ---------------------------------------------------------------------------------------------
# cosine neighbours
# ---------------------------------------------------------------------------------------------


def argsort_neighbours(queries, database, k, exclude_self):
    """Reference: full cosine-similarity matrix, self excluded if asked, argsort descending."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    d = database / np.linalg.norm(database, axis=1, keepdims=True)
    similarity = q @ d.T
    if exclude_self:
        np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1)[:, :k]


def test_cosine_neighbours_match_argsort():
    """Blocked top-k (block smaller than the number of queries) equals argsort of the full cosine
    similarity, most similar first, between two different sets."""
    rng = np.random.default_rng(19)
    queries, database = rng.normal(size=(17, 4)), rng.normal(size=(29, 4))
    found = metrics.cosine_neighbours(queries, database, 6, block_size=5, exclude_self=False)
    np.testing.assert_array_equal(found, argsort_neighbours(queries, database, 6, False))


def test_cosine_neighbours_exclude_self():
    """Within one set, excluding self gives the argsort of the similarity with the diagonal
    removed (no row is its own neighbour); without exclusion each row is its own first."""
    x = np.random.default_rng(20).normal(size=(23, 5))
    found = metrics.cosine_neighbours(x, x, 5, block_size=4, exclude_self=True)
    np.testing.assert_array_equal(found, argsort_neighbours(x, x, 5, True))
    assert (found != np.arange(23)[:, None]).all()
    with_self = metrics.cosine_neighbours(x, x, 5, block_size=4, exclude_self=False)
    np.testing.assert_array_equal(with_self[:, 0], np.arange(23))
    np.testing.assert_array_equal(with_self, argsort_neighbours(x, x, 5, False))


def test_cosine_neighbours_k_capped_at_database_size():
    """k larger than the available rows returns every other row (N − 1 with self excluded)."""
    x = np.random.default_rng(21).normal(size=(6, 3))
    found = metrics.cosine_neighbours(x, x, 50, block_size=4, exclude_self=True)
    assert found.shape == (6, 5)
    np.testing.assert_array_equal(found, argsort_neighbours(x, x, 5, True))


# ---------------------------------------------------------------------------------------------
# t-SNE
# ---------------------------------------------------------------------------------------------


def test_tsne_projection_shape_rows_and_seed():
    """A sample of min(sample, N) rows: 2-D points, sorted unique row indices; the same seed
    picks the same rows, a sample ≥ N takes every row."""
    x = np.random.default_rng(22).normal(size=(40, 6))
    points, rows = metrics.tsne_projection(x, sample=25, seed=1)
    assert points.shape == (25, 2)
    assert np.isfinite(points).all()
    assert len(np.unique(rows)) == 25
    assert (np.diff(rows) > 0).all()
    assert rows.min() >= 0 and rows.max() < 40
    _, again = metrics.tsne_projection(x, sample=25, seed=1)
    np.testing.assert_array_equal(rows, again)
    all_points, all_rows = metrics.tsne_projection(x, sample=100, seed=1)
    assert all_points.shape == (40, 2)
    np.testing.assert_array_equal(all_rows, np.arange(40))


# ---------------------------------------------------------------------------------------------
# the scoring battery
# ---------------------------------------------------------------------------------------------

STAGE_DIMS = {"stem": 3, "layer1": 4, "layer2": 4, "layer3": 5, "layer4": 6}


def embedding_set(seed=0, with_stages=True):
    """Train/test embeddings (3 blobs in 6 dims) with labels and, optionally, stage features."""
    train_x, train_y = labelled_blobs([20, 20, 20], dim=6, spread=1.5, seed=seed)
    test_x, test_y = labelled_blobs([12, 12, 12], dim=6, spread=1.5, seed=seed + 1)
    validation_x, validation_y = labelled_blobs([5, 5, 5], dim=6, spread=1.5, seed=seed + 3)
    embeddings = {
        "train_embedding": train_x,
        "validation_embedding": validation_x,
        "test_embedding": test_x,
        "train_labels": train_y,
        "validation_labels": validation_y,
        "test_labels": test_y,
    }
    rows = np.arange(0, 36, 2)  # half of the test images corrupted, each corruption noisier
    embeddings["corruption_rows"] = rows
    noise = np.random.default_rng(seed + 4)
    for (i, name), severity in itertools.product(enumerate(CORRUPTIONS), SEVERITIES):
        spread = 0.3 * (i + severity)
        embeddings[f"corrupt__{name}__{severity}"] = test_x[rows] + noise.normal(
            scale=spread, size=(len(rows), 6)
        )
    if with_stages:
        rng = np.random.default_rng(seed + 2)
        for stage, dim in STAGE_DIMS.items():
            mixing = rng.normal(size=(6, dim))
            embeddings[f"train_{stage}"] = train_x @ mixing + rng.normal(size=(60, dim))
            embeddings[f"test_{stage}"] = test_x @ mixing + rng.normal(size=(36, dim))
    return embeddings


CONFIG = ScoringSettings(knn_k=5, uniformity_t=1.0, tsne_sample=20, silhouette_sample=30, seed=2)


def test_score_embeddings_keys_and_values():
    """Every registered score (probe_<depth> for every stage included) is returned, in registry
    order, as plain floats (the silhouette's sample size as an int) consistent with the metric
    functions called with the config's settings; probe_accuracy is the embedding probe; nothing
    is skipped when labels and stages are present."""
    embeddings = embedding_set()
    result = score_embeddings(embeddings, CONFIG)
    scores = result.scores
    assert list(scores) == list(SCORES)
    assert {f"probe_{depth}" for depth in (*STAGES, "embedding")} <= set(scores)
    assert result.labelled
    digits = {f"probe_digit_{position}" for position in range(4)}  # MultiDigit data only
    assert result.skipped == dict.fromkeys(digits, "no per-digit labels (not MultiDigit data)")
    assert set(result.seconds) == {*SCORES, "bootstrap"} - digits
    for name in set(SCORES) - digits:
        assert isinstance(scores[name], int if name == "silhouette_sample" else float), name
        assert np.isfinite(scores[name]), name
    assert scores["probe_accuracy"] == scores["probe_embedding"]
    # the probe's accuracy on the train embeddings it was fitted on, and the gap to the test's
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    fitted = StandardScaler().fit(embeddings["train_embedding"])
    probe = LogisticRegression(max_iter=CONFIG.probe_max_iter)
    probe.fit(fitted.transform(embeddings["train_embedding"]), embeddings["train_labels"])
    on_train = probe.score(
        fitted.transform(embeddings["train_embedding"]), embeddings["train_labels"]
    )
    assert scores["probe_train_accuracy"] == pytest.approx(on_train, abs=1e-12)
    assert scores["probe_gap"] == pytest.approx(on_train - scores["probe_accuracy"], abs=1e-12)
    train_x, test_x = embeddings["train_embedding"], embeddings["test_embedding"]
    train_y, test_y = embeddings["train_labels"], embeddings["test_labels"]
    for stage in STAGES:
        assert scores[f"probe_{stage}"] == metrics.linear_probe(
            embeddings[f"train_{stage}"], train_y, embeddings[f"test_{stage}"], test_y
        ), stage
    assert scores["probe_embedding"] == metrics.linear_probe(train_x, train_y, test_x, test_y)
    assert scores["knn_accuracy"] == metrics.knn_accuracy(train_x, train_y, test_x, test_y, k=5)
    clean = metrics.fit_linear_probe(train_x, train_y, CONFIG.probe_max_iter)
    rows, probe_right, knn_right = embeddings["corruption_rows"], [], []
    for name in CORRUPTIONS:
        per_name = []
        for severity in SEVERITIES:
            features = embeddings[f"corrupt__{name}__{severity}"]
            per_name.append(clean.predict(features) == test_y[rows])
            knn = metrics.knn_accuracy(train_x, train_y, features, test_y[rows], k=5)
            knn_right.append(knn)
        assert scores[f"corruption_{name}"] == pytest.approx(np.mean(per_name)), name
        probe_right += per_name
    assert scores["corruption_probe_accuracy"] == pytest.approx(np.mean(probe_right))
    assert scores["corruption_knn_accuracy"] == pytest.approx(np.mean(knn_right))
    assert scores["corruption_pixelate"] < scores["probe_accuracy"]  # the noisiest here
    probe, strength = metrics.swept_linear_probe(
        train_x, train_y, embeddings["validation_embedding"], embeddings["validation_labels"]
    )
    assert scores["swept_probe_l2"] == strength
    assert scores["swept_probe_accuracy"] == (probe.predict(test_x) == test_y).mean()
    assert scores["uniformity"] == pytest.approx(metrics.uniformity(test_x, t=1.0), rel=1e-12)
    assert scores["uniformity"] != pytest.approx(metrics.uniformity(test_x, t=2.0), rel=1e-3)
    assert scores["alignment"] == pytest.approx(metrics.alignment(test_x, test_y), rel=1e-12)
    assert scores["map_at_r"] == metrics.retrieval_scores(test_x, test_y)["map_at_r"]
    assert scores["effective_rank"] == pytest.approx(
        metrics.effective_rank(metrics.moments(test_x)), rel=1e-12
    )
    assert scores["silhouette_sample"] == 30
    assert scores["tsne_sample"] == 20
    assert scores["collapsed"] == 0.0
    assert result.arrays["tsne_projection"].shape == (20, 2)


def test_without_a_validation_split_the_swept_probe_is_skipped_and_says_why():
    embeddings = embedding_set()
    del embeddings["validation_embedding"]
    result = score_embeddings(embeddings, CONFIG)
    why = "no validation embeddings (ingest.validation_fraction is 0)"
    assert result.skipped["swept_probe_accuracy"] == result.skipped["swept_probe_l2"] == why
    assert math.isfinite(result.scores["probe_accuracy"])


def test_score_embeddings_missing_stage_features_are_skipped():
    """Without stage features each probe_<stage> is NaN and skipped as not extracted, while the
    embedding probe is still scored."""
    result = score_embeddings(embedding_set(seed=3, with_stages=False), CONFIG)
    for stage in STAGES:
        assert math.isnan(result.scores[f"probe_{stage}"])
        assert result.skipped[f"probe_{stage}"] == "features not extracted"
    assert np.isfinite(result.scores["probe_accuracy"])
    assert "probe_embedding" not in result.skipped


def test_score_embeddings_without_labels_skips_label_scores():
    """With the label arrays removed, the run is not labelled, every score that needs labels is
    NaN and listed in skipped, every label-free score is finite, and the figures get no class
    distances."""
    embeddings = embedding_set(seed=4)
    del embeddings["train_labels"], embeddings["test_labels"]
    result = score_embeddings(embeddings, CONFIG)
    assert not result.labelled
    label_scores = [name for name, score in SCORES.items() if score.needs_labels]
    assert {"probe_accuracy", "knn_accuracy", *(f"probe_{depth}" for depth in DEPTHS)} <= set(
        label_scores
    )
    for name in label_scores:
        assert math.isnan(result.scores[name]), name
        assert result.skipped[name] == "no class labels", name
    for name in set(SCORES) - set(label_scores):
        assert np.isfinite(result.scores[name]), name
        assert name not in result.skipped
    test_x = embeddings["test_embedding"]
    assert result.scores["uniformity"] == pytest.approx(metrics.uniformity(test_x, t=1.0))
    assert "class_distances" not in result.arrays
    assert {"correlation", "vif", "pca_projection", "tsne_projection"} <= set(result.arrays)


def test_score_embeddings_unlabelled_test_rows_skip_label_scores():
    """Test labels of −1 (unlabelled) also skip the label scores."""
    embeddings = embedding_set(seed=5, with_stages=False)
    embeddings["test_labels"] = np.full_like(embeddings["test_labels"], -1)
    result = score_embeddings(embeddings, CONFIG)
    assert not result.labelled
    assert math.isnan(result.scores["knn_accuracy"])
    assert result.skipped["knn_accuracy"] == "no class labels"


def test_score_embeddings_flags_collapse():
    """Nearly identical embeddings have a spread below the threshold and are flagged collapsed."""
    rng = np.random.default_rng(6)
    base = rng.normal(size=8)
    embeddings = {
        "train_embedding": base + 1e-4 * rng.normal(size=(40, 8)),
        "test_embedding": base + 1e-4 * rng.normal(size=(30, 8)),
    }
    result = score_embeddings(embeddings, CONFIG)
    assert result.scores["collapse_statistic"] < 0.01
    assert result.scores["collapsed"] == 1.0


def test_shared_computations_run_once_per_battery(monkeypatch):
    """Scores that share a computation (k-means → ARI/NMI/AMI, retrieval → P@1/MAP@R,
    the class distances, the PCA, the VIF, the embedding probe behind probe_embedding and
    probe_accuracy) trigger it once per run (and once per bootstrap resample), not once per
    score; what is fitted on the train embeddings is fitted once, resamples included; the
    pairwise scores form their pairs once for all the resamples together."""
    calls: dict[str, int] = {}

    def counted(name):
        original = getattr(metrics, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(metrics, name, wrapper)

    fitted = (  # fitted on the train embeddings or per test image: once, resamples included
        "kmeans_clusters",
        "retrieval_per_query",
        "knn_predictions",
        "fit_linear_probe",
        "tsne_projection",
    )
    recomputed = (  # on the test rows: once for the scores, once more per bootstrap resample
        "cluster_agreement",
        "moments",  # (behind the correlation, the VIF, the PCA curve and the effective rank)
        "collapse_statistic",
    )
    batched = (  # the pairwise scores: once on the full run, once for all resamples together
        "resampled_class_distances",
        "resampled_uniformity",
    )
    for name in (*fitted, *recomputed, *batched):
        counted(name)
    resamples = 3
    config = CONFIG.model_copy(update={"bootstrap_resamples": resamples})
    score_embeddings(embedding_set(seed=7, with_stages=False), config)
    assert calls == {  # one probe: the embedding (no stage features)
        **{name: 1 for name in fitted},
        **{name: 1 + resamples for name in recomputed},
        **{name: 2 for name in batched},
        # and the kNN once more on each corrupted copy of the test images
        "knn_predictions": 1 + len(CORRUPTIONS) * len(SEVERITIES),
    }


def test_a_score_that_raises_skip_is_nan_with_its_reason(monkeypatch):
    """A registered score whose function raises Skip is NaN and skipped with the message; a toy
    score that needs labels is skipped as such on an unlabelled run."""

    def refuse(run):
        raise Skip("not today")

    monkeypatch.setitem(SCORES, "toy_refusal", Score(refuse, needs_labels=False))
    monkeypatch.setitem(SCORES, "toy_labelled", Score(lambda run: 1.0, needs_labels=True))
    result = score_embeddings(embedding_set(seed=8, with_stages=False), CONFIG)
    assert math.isnan(result.scores["toy_refusal"])
    assert result.skipped["toy_refusal"] == "not today"
    assert "toy_refusal" not in result.seconds
    assert result.scores["toy_labelled"] == 1.0
    unlabelled = embedding_set(seed=8, with_stages=False)
    del unlabelled["train_labels"], unlabelled["test_labels"]
    result = score_embeddings(unlabelled, CONFIG)
    assert result.skipped["toy_labelled"] == "no class labels"


def test_a_ranked_or_tabled_score_needs_a_heading():
    """A score with a direction or a table column but no heading is refused when registered."""
    with pytest.raises(ValueError, match="heading"):
        Score(lambda run: 0.0, needs_labels=False, better=1)
    with pytest.raises(ValueError, match="heading"):
        Score(lambda run: 0.0, needs_labels=False, in_table=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"knn_kk": 7}, r"`evaluate\.knn_kk` is unknown; did you mean 'knn_k'"),
        ({"knn_k": 0}, r"`evaluate\.knn_k` should be greater than or equal to 1, got 0"),
        ({"uniformity_t": float("nan")}, r"`evaluate\.uniformity_t` should be a finite number"),
        ({"silhouette_sample": 1}, r"`evaluate\.silhouette_sample` should be greater than"),
        ({"probe_max_iter": 2.5}, r"`evaluate\.probe_max_iter` should be a valid integer"),
    ],
)
def test_scoring_settings_refuse_bad_values_naming_them(params, message):
    """Known keys set fields; a bad or unknown one is refused with a message naming it."""
    config = parse(ScoringSettings, {"knn_k": 7, "seed": 3}, "evaluate")
    assert (config.knn_k, config.seed, config.tsne_sample) == (7, 3, 1000)
    with pytest.raises(ParameterError, match=message):
        parse(ScoringSettings, params, "evaluate")


def test_knn_tie_with_equal_rank_sums_goes_to_the_nearest_neighbours_class():
    """k=4 with class 1 at ranks 1 and 4 and class 0 at ranks 2 and 3: two votes each, and the
    nearest neighbour is of class 1, so class 1 wins (a rank-sum bonus could not split this)."""
    angles = np.array([0.10, 0.20, 0.30, 0.40])  # nearest first from a query at angle 0
    train_x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    train_y = np.array([1, 0, 0, 1])
    test_x, test_y = np.array([[1.0, 0.0]]), np.array([1])
    assert metrics.knn_accuracy(train_x, train_y, test_x, test_y, k=4) == 1.0


def test_digit_probes_score_each_position_of_multidigit_images():
    """On MultiDigit data each digit position gets its own linear probe (against the same
    standardized logistic regression fitted directly); positions beyond the digits are skipped."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from crl_pipelines.images import split_train_test
    from crl_pipelines.sources import build_dataset

    settings = {"num_images": 200, "num_digits": 2, "canvas_size": 16, "digit_size": 8}
    train, test = split_train_test(
        build_dataset({"source": "multidigit", "multidigit": settings}), 0.3, 0
    )
    pixels = {name: split.images.reshape(len(split.images), -1).astype(float)
              for name, split in (("train", train), ("test", test))}  # fmt: skip
    embeddings = {
        "train_embedding": pixels["train"], "test_embedding": pixels["test"],
        "train_labels": train.labels, "test_labels": test.labels,
        "train_extra__digit_labels": train.extra["digit_labels"],
        "test_extra__digit_labels": test.extra["digit_labels"],
    }  # fmt: skip
    config = ScoringSettings(bootstrap_resamples=5, tsne_sample=10, silhouette_sample=20)
    result = score_embeddings(embeddings, config)
    for position in (0, 1):
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=config.probe_max_iter))
        probe.fit(pixels["train"], train.extra["digit_labels"][:, position])
        expected = probe.score(pixels["test"], test.extra["digit_labels"][:, position])
        assert result.scores[f"probe_digit_{position}"] == pytest.approx(expected)
    assert result.skipped["probe_digit_2"] == "the images have 2 digits"


def test_the_confusion_is_the_embedding_probes_against_scikit_learns():
    from sklearn.metrics import confusion_matrix

    embeddings = embedding_set()
    result = score_embeddings(embeddings, CONFIG)
    predicted = metrics.linear_probe_predictions(
        embeddings["train_embedding"], embeddings["train_labels"], embeddings["test_embedding"]
    )
    expected = confusion_matrix(embeddings["test_labels"], predicted, labels=[0, 1, 2])
    assert (result.arrays["confusion"] == expected).all()
    assert np.trace(expected) / expected.sum() == result.scores["probe_accuracy"]
