"""Scores of a representation (guide part 2), computed on held-out test embeddings.

Anything fitted (the probe, the PCA basis) is fitted on the train embeddings only. Distances are
computed in blocks and VIF in closed form, so large embeddings score in seconds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def resample_weights(rows: np.ndarray, n: int) -> np.ndarray:
    """B × n: how many times each of ``n`` items is among each resample's ``rows`` (B × m)."""
    rows = np.atleast_2d(rows)
    offsets = (np.arange(len(rows)) * n)[:, None]
    flat = np.bincount((rows + offsets).ravel(), minlength=len(rows) * n)
    return flat.reshape(len(rows), n).astype(np.float64)


def class_distance_matrix(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int, block_size: int = 2048
) -> np.ndarray:
    """D[i, j] = mean Euclidean distance between embeddings of class i and of class j; on the
    diagonal the zero self-pairs are excluded (a class's mean distance between distinct
    members)."""
    once = np.ones((1, len(embeddings)))
    return resampled_class_distances(embeddings, labels, num_classes, once, block_size)[0]


def resampled_class_distances(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    weights: np.ndarray,
    block_size: int = 2048,
) -> np.ndarray:
    """B × C × C: :func:`class_distance_matrix` of each resample, the resample given by its
    ``weights`` (B × N, how many times it draws each row), pairs of copies of one image left out
    like self-pairs.

    The pairwise distances are formed once, a block of rows at a time (memory block × N), and
    every resample's class-pair sums Σ w_a·w_c·d(a, c) come from one product with the weights:
    N²·B operations for all resamples instead of N²·D for each.
    """
    order = np.argsort(labels, kind="stable")  # each class a contiguous run of columns
    x = np.asarray(embeddings, dtype=np.float64)[order]
    x = x - x.mean(axis=0)  # distances are shift-invariant; centring keeps the expansion precise
    labels, weights = np.asarray(labels)[order], np.asarray(weights, dtype=np.float64)[:, order]
    bounds = np.searchsorted(labels, np.arange(num_classes + 1))
    onehot = np.eye(num_classes)[labels]
    squared_norms = np.einsum("ij,ij->i", x, x)
    sums = np.zeros((len(weights), num_classes, num_classes))
    for start in range(0, len(x), block_size):
        block = slice(start, min(start + block_size, len(x)))
        squared = squared_norms[block, None] + squared_norms[None, :] - 2 * x[block] @ x.T
        distances = np.sqrt(np.clip(squared, 0, None))
        distances[np.arange(len(distances)), np.arange(len(x))[block]] = 0.0  # exact self-pairs
        weighted_rows = weights[:, block].T  # block × B
        for j, (low, high) in enumerate(itertools.pairwise(bounds)):
            to_class = distances[:, low:high] @ weights[:, low:high].T  # Σ_c∈j w_c·d(a, c)
            sums[:, :, j] += (weighted_rows * to_class).T @ onehot[block]
    counts = weights @ onehot  # B × C: rows drawn per class
    copy_pairs = (weights**2) @ onehot  # pairs of copies of one image, self-pairs included
    pairs = counts[:, :, None] * counts[:, None, :]
    pairs[:, np.arange(num_classes), np.arange(num_classes)] -= copy_pairs
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, sums / pairs, np.nan)


def class_separation(distance_matrix: np.ndarray) -> float:
    """Mean between-class distance ÷ mean within-class distance (higher separates better)."""
    off_diagonal = ~np.eye(len(distance_matrix), dtype=bool)
    return float(np.nanmean(distance_matrix[off_diagonal]) / np.nanmean(np.diag(distance_matrix)))


def normalized_between_class_distances(distance_matrix: np.ndarray) -> np.ndarray:
    """The guide's histogram input: each distinct class pair's mean distance ÷ the matrix's max.

    The guide takes ``np.tril(D, k=0)``, which also counts the diagonal (within-class) and the
    zeros above it; here only the strictly lower triangle, the between-class pairs, is kept.
    """
    lower = distance_matrix[np.tril_indices(len(distance_matrix), k=-1)]
    return lower / np.nanmax(distance_matrix)


@dataclass(frozen=True)
class Moments:
    """What the feature-level scores need of a set of embeddings: how many rows, their mean,
    covariance (ddof 0) and which features are constant. One N·D² pass shared by the
    correlation, the VIFs, the PCA curve and the effective rank."""

    count: float
    mean: np.ndarray
    covariance: np.ndarray
    constant: np.ndarray  # per feature: a single value over the rows

    @property
    def second_moment(self) -> np.ndarray:
        """Σ x xᵀ over the rows (uncentred)."""
        return self.count * (self.covariance + np.outer(self.mean, self.mean))


def moments(embeddings: np.ndarray, weights: np.ndarray | None = None) -> Moments:
    """:class:`Moments` of the rows, each counted ``weights[i]`` times (a bootstrap resample as
    counts of the full set's rows, so repeated rows cost nothing); by default once."""
    x = np.asarray(embeddings, dtype=np.float64)
    if weights is None:
        weights = np.ones(len(x))
    drawn = weights > 0
    x, weights = x[drawn], np.asarray(weights, dtype=np.float64)[drawn]
    count = weights.sum()
    mean = weights @ x / count
    centered = x - mean
    covariance = (centered * weights[:, None]).T @ centered / count
    return Moments(float(count), mean, covariance, np.ptp(x, axis=0) == 0)


def correlation_matrix(stats: Moments) -> np.ndarray:
    """Pearson correlation between features (D×D); rows and columns of constant features are NaN."""
    scale = np.sqrt(np.diag(stats.covariance))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = stats.covariance / np.outer(scale, scale)
    np.fill_diagonal(corr, 1.0)
    corr[stats.constant, :] = np.nan
    corr[:, stats.constant] = np.nan
    return np.clip(corr, -1.0, 1.0)


def mean_abs_correlation(corr: np.ndarray) -> float:
    """Mean |r| over distinct feature pairs (NaN pairs of constant features ignored)."""
    off_diagonal = ~np.eye(len(corr), dtype=bool)
    values = np.abs(corr[off_diagonal])
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def variance_inflation_factors(stats: Moments, rank_tolerance: float = 1e-10) -> np.ndarray:
    """VIF_i = 1 / (1 − R²_i), R²_i from regressing feature i on all others with an intercept.

    Closed form: the diagonal of the inverse correlation matrix. A constant feature has no R²
    (its VIF is reported as inf). A feature that is an exact linear combination of others has
    R² = 1, VIF = inf; it is found from the correlation matrix's null space, and the VIFs of the
    remaining features are computed with redundant features dropped, which leaves their
    regressions' column spaces, hence their R², unchanged.
    """
    vif = np.full(len(stats.constant), np.inf)
    keep = np.flatnonzero(~stats.constant)
    if len(keep) == 0:
        return vif
    corr = correlation_matrix(stats)[np.ix_(keep, keep)]

    def null(values: np.ndarray) -> np.ndarray:
        return values < rank_tolerance * max(values[-1], 1.0)

    values = np.linalg.eigvalsh(corr)
    if null(values).any():  # the eigenvectors only when there may be a null space
        values, vectors = np.linalg.eigh(corr)
    if not null(values).any():
        vif[keep] = np.diag(np.linalg.inv(corr))
        return vif
    collinear = np.abs(vectors[:, null(values)]).max(axis=1) > 1e-6
    # Drop redundant members one per null direction until the rest is full rank.
    basis = list(range(len(keep)))
    for _ in range(int(null(values).sum())):
        sub = corr[np.ix_(basis, basis)]
        sub_values, sub_vectors = np.linalg.eigh(sub)
        if not null(sub_values)[0]:
            break
        basis.pop(int(np.argmax(np.abs(sub_vectors[:, 0]))))
    basis = np.asarray(basis)
    inverse_diagonal = np.diag(np.linalg.inv(corr[np.ix_(basis, basis)]))
    finite = ~collinear[basis]
    vif[keep[basis[finite]]] = inverse_diagonal[finite]
    return vif


def normalized_vif(vif: np.ndarray) -> np.ndarray:
    """VIF ÷ the largest finite VIF (0..1, as the guide plots it); infinite VIFs stay inf."""
    finite = np.isfinite(vif)
    if not finite.any():
        return vif.copy()
    return np.where(finite, vif / vif[finite].max(), np.inf)


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    max_iter: int = 2000,
    regularization: float = 1.0,
) -> float:
    """Test accuracy of a standardized multinomial logistic regression fitted on train data."""
    predicted = linear_probe_predictions(train_x, train_y, test_x, max_iter, regularization)
    return float((predicted == test_y).mean())


def linear_probe_predictions(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    max_iter: int = 2000,
    regularization: float = 1.0,
) -> np.ndarray:
    """The class :func:`linear_probe`'s classifier predicts for each test row."""
    return fit_linear_probe(train_x, train_y, max_iter, regularization).predict(test_x)


def fit_linear_probe(
    train_x: np.ndarray, train_y: np.ndarray, max_iter: int = 2000, regularization: float = 1.0
) -> Any:
    """The linear probe: a standardized multinomial logistic regression fitted on ``train_x``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=max_iter))
    return probe.fit(train_x, train_y)


PROBE_L2_STRENGTHS = tuple(10.0**power for power in range(-6, 6))
"""The L2 strengths λ (scikit-learn's C = 1/λ) the swept probe tries: 1e-6 … 1e5, 12 values."""


def swept_linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    validation_x: np.ndarray,
    validation_y: np.ndarray,
    max_iter: int = 2000,
    strengths: tuple[float, ...] = PROBE_L2_STRENGTHS,
) -> tuple[Any, float]:
    """SimCLR's linear evaluation (Chen et al., 2020): a standardized multinomial logistic
    regression fitted on train at each L2 strength, the one most accurate on the validation
    split chosen (on a tie, the strongest: the simpler model). Returns (the chosen fit, its λ)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    train, validation = scaler.transform(train_x), scaler.transform(validation_x)
    best, best_accuracy, chosen = None, -1.0, math.nan
    for strength in sorted(strengths, reverse=True):
        fit = LogisticRegression(C=1 / strength, max_iter=max_iter).fit(train, train_y)
        accuracy = float((fit.predict(validation) == validation_y).mean())
        if accuracy > best_accuracy:
            best, best_accuracy, chosen = fit, accuracy, strength
    return make_pipeline(scaler, best), chosen


def pca_explained(stats: Moments, components: np.ndarray) -> np.ndarray:
    """For k = 1..K, the share of the embeddings' variance (``stats``, the test embeddings')
    captured by the first k of ``components`` (K × D, a PCA's fitted on the train embeddings),
    cumulative."""
    captured = ((components @ stats.covariance) * components).sum(axis=1)  # each cᵀ Σ c
    total = np.trace(stats.covariance)
    return np.cumsum(captured) / total if total > 0 else np.zeros(len(captured))


def pca_projection(embeddings: np.ndarray, pca: Any) -> np.ndarray:
    """The embeddings on the first two components of ``pca`` (fitted on the train embeddings)."""
    return (np.asarray(embeddings, dtype=np.float64) - pca.mean_) @ pca.components_[:2].T


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def alignment(x: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Wang & Isola's alignment E‖f(x)−f(y)‖² over positive pairs, on L2-normalized embeddings.

    Held-out images have no augmented twin, so the positive pairs are all pairs of distinct
    images of the same class. Closed form per class c with n_c members:
    Σ_{i≠j} ‖x_i − x_j‖² = 2·n_c·Σ‖x_i‖² − 2‖Σx_i‖². With ``weights`` (how many times a resample
    draws each row), pairs of copies of one image, at distance 0, are not counted as pairs.
    """
    z = l2_normalize(x)
    weights = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    total, pairs = 0.0, 0.0
    for k in np.unique(labels[weights > 0]):  # a loop over classes, not samples
        members = labels == k
        drawn, counts = z[members], weights[members]
        n = counts.sum()
        total += 2 * n * (counts @ (drawn**2).sum(axis=1)) - 2 * ((counts @ drawn) ** 2).sum()
        pairs += n * n - (counts**2).sum()
    return float(total / pairs) if pairs else float("nan")


def uniformity(x: np.ndarray, t: float = 2.0, block_size: int = 2048) -> float:
    """Wang & Isola's uniformity log E exp(−t‖f(x)−f(y)‖²) over all pairs of distinct embeddings,
    on L2-normalized embeddings (lower is more uniform)."""
    return float(resampled_uniformity(x, np.ones((1, len(x))), t, block_size)[0])


def resampled_uniformity(
    x: np.ndarray, weights: np.ndarray, t: float = 2.0, block_size: int = 2048
) -> np.ndarray:
    """:func:`uniformity` of each resample given by its ``weights`` (B × N, how many times it
    draws each row), pairs of copies of one image left out: the kernel exp(−t‖u−v‖²) is formed
    once, a block of rows at a time, and every resample's weighted pair sum comes from one
    product with the weights. The sums are taken relative to the largest exponent so far, so
    they do not underflow however large ``t`` is."""
    z = l2_normalize(x)
    weights = np.asarray(weights, dtype=np.float64)
    pairs = weights.sum(axis=1) ** 2 - (weights**2).sum(axis=1)
    peak, totals = -np.inf, np.zeros(len(weights))
    for start in range(0, len(z), block_size):
        block = slice(start, min(start + block_size, len(z)))
        squared = np.clip(2.0 - 2.0 * z[block] @ z.T, 0.0, None)  # ‖u−v‖² = 2 − 2u·v on the sphere
        exponent = -t * squared
        exponent[np.arange(len(exponent)), np.arange(len(z))[block]] = -np.inf  # self-pairs
        top = exponent.max()
        if top == -np.inf:
            continue  # a single row: no pair
        if top > peak:
            totals, peak = totals * np.exp(peak - top), top
        kernel = np.exp(exponent - peak)
        totals += ((kernel @ weights.T) * weights[:, block].T).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, np.log(totals) + peak - np.log(pairs), np.nan)


def cosine_neighbours(
    queries: np.ndarray, database: np.ndarray, k: int, block_size: int, exclude_self: bool
) -> np.ndarray:
    """Indices of each query's k most cosine-similar database rows, most similar first."""
    q, d = l2_normalize(queries), l2_normalize(database)
    k = min(k, len(d) - int(exclude_self))
    result = np.empty((len(q), k), dtype=np.int64)
    for start in range(0, len(q), block_size):
        rows = np.arange(start, min(start + block_size, len(q)))
        similarity = q[rows] @ d.T
        if exclude_self:
            similarity[rows - start, rows] = -np.inf
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(similarity, top, axis=1), axis=1, kind="stable")
        result[rows] = np.take_along_axis(top, order, axis=1)
    return result


def knn_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    k: int = 20,
    block_size: int = 2048,
) -> float:
    """Accuracy of a k-nearest-neighbour vote (cosine similarity) of train labels for test rows.

    A tie between classes goes to the class whose nearest member is nearer."""
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    predicted = knn_predictions(train_x, train_y, test_x, k, block_size, num_classes)
    return float((predicted == test_y).mean())


def knn_predictions(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    k: int,
    block_size: int,
    num_classes: int,
) -> np.ndarray:
    """The class :func:`knn_accuracy`'s vote predicts for each test row."""
    neighbours = cosine_neighbours(test_x, train_x, k, block_size, exclude_self=False)
    queries, found = np.arange(len(test_x))[:, None], train_y[neighbours]
    k = neighbours.shape[1]
    votes = np.zeros((len(test_x), num_classes), dtype=np.int64)
    np.add.at(votes, (queries, found), 1)
    first_rank = np.full((len(test_x), num_classes), k, dtype=np.int64)
    np.minimum.at(first_rank, (queries, found), np.broadcast_to(np.arange(k), found.shape))
    ranked = votes * (k + 1) + (k - first_rank)  # more votes first, then the nearer class
    return ranked.argmax(axis=1)


def weighted_knn_predictions(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    k: int,
    temperature: float,
    block_size: int,
    num_classes: int,
) -> np.ndarray:
    """The self-supervised kNN protocol (Wu et al., 2018; lightly's benchmarks): each test row's
    ``k`` most cosine-similar train rows (all of them where there are fewer) vote for their class
    with weight exp(similarity / ``temperature``); the class of the largest sum is predicted."""
    q, d = l2_normalize(test_x), l2_normalize(train_x)
    k = min(k, len(d))
    predicted = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), block_size):
        similarity = q[start : start + block_size] @ d.T
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.exp(np.take_along_axis(similarity, top, axis=1) / temperature)
        votes = np.zeros((len(top), num_classes))
        np.add.at(votes, (np.arange(len(top))[:, None], train_y[top]), weights)
        predicted[start : start + len(top)] = votes.argmax(axis=1)
    return predicted


def retrieval_scores(x: np.ndarray, labels: np.ndarray, block_size: int = 1024) -> dict[str, float]:
    """Leave-one-out retrieval within a set, by cosine similarity.

    ``precision_at_1``: share of queries whose nearest other item has their class.
    ``map_at_r`` (Musgrave et al., "A Metric Learning Reality Check", 2020): with R the number of
    other items of the query's class, mean over queries of (1/R)·Σ_{i≤R} P@i·[item i relevant].
    """
    per_query = retrieval_per_query(x, labels, block_size)
    average_precision = per_query["average_precision"]
    valid = ~np.isnan(average_precision)
    return {
        "precision_at_1": float(per_query["hit_at_1"].mean()),
        "map_at_r": float(average_precision[valid].mean()) if valid.any() else float("nan"),
    }


def retrieval_per_query(
    x: np.ndarray, labels: np.ndarray, block_size: int = 1024
) -> dict[str, np.ndarray]:
    """Each query's retrieval outcome: ``hit_at_1`` (its nearest other item has its class) and
    ``average_precision`` at R (NaN for a query whose class has no other item)."""
    counts = np.bincount(labels)
    r = counts[labels] - 1  # relevant items per query
    neighbours = cosine_neighbours(x, x, max(int(r.max()), 1), block_size, exclude_self=True)
    relevant = labels[neighbours] == labels[:, None]
    ranks = np.arange(1, neighbours.shape[1] + 1)
    within_r = ranks[None, :] <= r[:, None]
    hits = np.cumsum(relevant & within_r, axis=1)
    precision_terms = np.where(relevant & within_r, hits / ranks[None, :], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        average_precision = np.where(r > 0, precision_terms / r, np.nan)
    return {"hit_at_1": relevant[:, 0], "average_precision": average_precision}


def cluster_agreement(labels: np.ndarray, clusters: np.ndarray) -> dict[str, float]:
    """How well ``clusters`` recover the classes ``labels``: adjusted Rand index, normalized
    mutual information (arithmetic mean of the entropies) and adjusted mutual information.

    All three come from one contingency table, with scikit-learn's conventions in the corner
    cases (one class and one cluster agree perfectly; one of them alone scores 0). scikit-learn's
    three functions validate and rebuild that table each time: the bootstrap's 500 resamples
    spent most of their time there.
    """
    classes, class_index = np.unique(labels, return_inverse=True)
    found, cluster_index = np.unique(clusters, return_inverse=True)
    table = np.bincount(
        class_index * len(found) + cluster_index, minlength=len(classes) * len(found)
    ).reshape(len(classes), len(found))
    if len(classes) == len(found) <= 1:
        return {"kmeans_ari": 1.0, "kmeans_nmi": 1.0, "kmeans_ami": 1.0}
    mutual = _mutual_information(table)
    entropies = (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0))) / 2
    return {
        "kmeans_ari": _adjusted_rand(table),
        "kmeans_nmi": mutual / entropies if mutual > 0 else 0.0,
        "kmeans_ami": _adjusted_mutual(table, mutual, entropies),
    }


def _adjusted_rand(table: np.ndarray) -> float:
    """Hubert & Arabie's ARI from the pair counts of a contingency table (Python integers, which
    do not overflow)."""
    n = int(table.sum())
    same_both = int((table.astype(np.int64) ** 2).sum()) - n  # ordered pairs, as sklearn counts
    same_class = int((table.sum(axis=1).astype(np.int64) ** 2).sum()) - n
    same_cluster = int((table.sum(axis=0).astype(np.int64) ** 2).sum()) - n
    only_class, only_cluster = same_class - same_both, same_cluster - same_both
    neither = n * n - n - same_both - only_class - only_cluster
    if only_class == only_cluster == 0:
        return 1.0
    numerator = 2.0 * (same_both * neither - only_class * only_cluster)
    return numerator / (
        same_class * (only_class + neither) + same_cluster * (only_cluster + neither)
    )


def _entropy(counts: np.ndarray) -> float:
    """Entropy (nats) of a labelling from its counts per label."""
    counts = counts[counts > 0].astype(np.float64)
    if len(counts) <= 1:
        return 0.0
    total = counts.sum()
    return float(-((counts / total) * (np.log(counts) - np.log(total))).sum())


def _mutual_information(table: np.ndarray) -> float:
    """Mutual information (nats) of the two labellings behind a contingency table."""
    rows, cols = np.nonzero(table)
    if table.shape[0] == 1 or table.shape[1] == 1:
        return 0.0
    joint = table[rows, cols].astype(np.float64)
    total = joint.sum()
    row_sums, col_sums = table.sum(axis=1), table.sum(axis=0)
    outer = row_sums[rows].astype(np.float64) * col_sums[cols]
    terms = (joint / total) * (np.log(joint) - np.log(total) - np.log(outer) + 2 * np.log(total))
    terms[np.abs(terms) < np.finfo(np.float64).eps] = 0.0
    return max(float(terms.sum()), 0.0)


def _adjusted_mutual(table: np.ndarray, mutual: float, entropies: float) -> float:
    """Vinh, Epps & Bailey's AMI (2010): mutual information adjusted for its expectation under
    random labellings with the same class and cluster sizes."""
    if table.shape[0] == 1 or table.shape[1] == 1:
        return 0.0
    expected = _expected_mutual_information(table)
    tiny = np.finfo(np.float64).eps
    denominator = (
        min(entropies - expected, -tiny)
        if entropies < expected
        else max(entropies - expected, tiny)
    )
    numerator = min(mutual - expected, -tiny) if mutual < expected else max(mutual - expected, tiny)
    return numerator / denominator


def _expected_mutual_information(table: np.ndarray) -> float:
    """E[MI] over the hypergeometric model of the table's cells (Vinh et al. 2010, eq. 24),
    vectorized over every cluster and cell count of one class at a time, the factorials looked
    up in one table of log m!."""
    from scipy.special import gammaln

    a, b = table.sum(axis=1), table.sum(axis=0)
    n = int(table.sum())
    log_factorial = gammaln(np.arange(n + 1) + 1.0)
    fixed_b = (log_factorial[b] + log_factorial[n - b] - log_factorial[n])[:, None]
    b = b[:, None]
    total = 0.0
    for size in a:
        counts = np.arange(1, min(size, b.max()) + 1)
        low, high = np.maximum(1, size + b - n), np.minimum(size, b)
        valid = (counts >= low) & (counts <= high)
        k = np.clip(counts, low, high)  # in range everywhere; the cells outside are left out
        log_probability = (
            log_factorial[size] + log_factorial[n - size] + fixed_b
            - log_factorial[k] - log_factorial[size - k] - log_factorial[b - k]
            - log_factorial[n - size - b + k]
        )  # fmt: skip
        term = (k / n) * (np.log(n) + np.log(k) - np.log(size) - np.log(b))
        total += float((term * np.exp(log_probability))[valid].sum())
    return total


def kmeans_clusters(
    train_x: np.ndarray, test_x: np.ndarray, num_classes: int, seed: int = 0
) -> np.ndarray:
    """The cluster of each test row under k-means (k = number of classes) fitted on train."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=num_classes, n_init=4, random_state=seed).fit(train_x).predict(test_x)


def effective_rank(stats: Moments) -> float:
    """RankMe (Garrido et al., 2023): exp of the entropy of the normalized singular values of
    the embedding matrix, from the eigenvalues of its Gram matrix XᵀX (values below its rounding
    level are zeros, as an SVD finds them)."""
    eigenvalues = np.linalg.eigvalsh(stats.second_moment)
    rounding = len(eigenvalues) * np.finfo(np.float64).eps * max(eigenvalues[-1], 0.0)
    singular = np.sqrt(np.where(eigenvalues > rounding, eigenvalues, 0.0))
    if singular.sum() == 0:
        return 0.0
    p = singular / singular.sum() + 1e-12
    return float(np.exp(-(p * np.log(p)).sum()))


def collapse_statistic(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """SimSiam's collapse check: the mean per-dimension std of L2-normalized embeddings, times
    √D. About 1 for embeddings spread over the sphere, 0 when they all coincide. ``weights``:
    how many times each row counts (a resample)."""
    z = l2_normalize(x)
    weights = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = weights @ z / weights.sum()
    std = np.sqrt(weights @ (z - mean) ** 2 / weights.sum())
    return float(std.mean() * np.sqrt(z.shape[1]))


def tsne_projection(
    x: np.ndarray, sample: int = 1000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of a seeded sample of at most ``sample`` rows; returns (2-D points, sampled rows)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(x), size=min(sample, len(x)), replace=False))
    perplexity = float(min(30.0, max(2.0, (len(rows) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # One OpenMP thread: beside torch's thread pool, sklearn's Barnes-Hut t-SNE otherwise spins
    # (measured here: 60 points took 32 s with the default threads and 0.15 s with one).
    with threadpool_limits(limits=1, user_api="openmp"):
        points = tsne.fit_transform(np.asarray(x[rows], dtype=np.float64))
    return points, rows
