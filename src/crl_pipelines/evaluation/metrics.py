"""Scores of a representation (guide part 2), computed on held-out test embeddings.

Anything fitted (the probe, the PCA basis) is fitted on the train embeddings only. Distances are
computed in blocks and VIF in closed form, so large embeddings score in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _copies(ids: np.ndarray | None, n: int) -> np.ndarray:
    """Which image each row is (``ids``); by default every row is its own image."""
    return np.arange(n) if ids is None else np.asarray(ids)


def class_distance_matrix(
    embeddings: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    block_size: int = 2048,
    ids: np.ndarray | None = None,
) -> np.ndarray:
    """D[i, j] = mean Euclidean distance between embeddings of class i and of class j.

    On the diagonal the zero self-pairs are excluded (a class's mean distance between distinct
    members). Pairwise distances are formed a block of rows at a time and summed per class pair by
    one-hot products, so memory stays at block_size × N. ``ids`` names the image of each row
    when rows repeat (a bootstrap resample): pairs of copies of one image are excluded like
    self-pairs.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    x = x - x.mean(axis=0)  # distances are shift-invariant; centring keeps the expansion precise
    ids = _copies(ids, len(x))
    onehot = np.eye(num_classes)[labels]
    squared_norms = np.einsum("ij,ij->i", x, x)
    sums = np.zeros((num_classes, num_classes))
    for start in range(0, len(x), block_size):
        block = x[start : start + block_size]
        rows = np.arange(start, start + len(block))
        squared = squared_norms[rows, None] + squared_norms[None, :] - 2 * block @ x.T
        squared[ids[rows, None] == ids[None, :]] = 0.0  # exact zeros for self-pairs and copies
        sums += onehot[rows].T @ np.sqrt(np.clip(squared, 0, None)) @ onehot
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    _, first, multiplicity = np.unique(ids, return_index=True, return_counts=True)
    copy_pairs = np.bincount(labels[first], weights=multiplicity**2, minlength=num_classes)
    pairs = np.outer(counts, counts) - np.diag(copy_pairs)  # self-pairs removed from the diagonal
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


def constant_features(embeddings: np.ndarray) -> np.ndarray:
    """Boolean mask of features that take a single value (no variance) over the embeddings."""
    return np.ptp(embeddings, axis=0) == 0


def correlation_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Pearson correlation between features (D×D); rows and columns of constant features are NaN."""
    x = np.asarray(embeddings, dtype=np.float64)
    centered = x - x.mean(axis=0)
    scale = np.sqrt((centered**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        standardized = centered / scale
    corr = standardized.T @ standardized
    np.fill_diagonal(corr, 1.0)
    corr[constant_features(x), :] = np.nan
    corr[:, constant_features(x)] = np.nan
    return np.clip(corr, -1.0, 1.0)


def mean_abs_correlation(corr: np.ndarray) -> float:
    """Mean |r| over distinct feature pairs (NaN pairs of constant features ignored)."""
    off_diagonal = ~np.eye(len(corr), dtype=bool)
    values = np.abs(corr[off_diagonal])
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def variance_inflation_factors(embeddings: np.ndarray, rank_tolerance: float = 1e-10) -> np.ndarray:
    """VIF_i = 1 / (1 − R²_i), R²_i from regressing feature i on all others with an intercept.

    Closed form: the diagonal of the inverse correlation matrix. A constant feature has no R²
    (its VIF is reported as inf). A feature that is an exact linear combination of others has
    R² = 1, VIF = inf; it is found from the correlation matrix's null space, and the VIFs of the
    remaining features are computed with redundant features dropped, which leaves their
    regressions' column spaces, hence their R², unchanged.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    features = x.shape[1]
    vif = np.full(features, np.inf)
    keep = np.flatnonzero(~constant_features(x))
    if len(keep) == 0:
        return vif
    corr = correlation_matrix(x[:, keep])
    values, vectors = np.linalg.eigh(corr)
    null = values < rank_tolerance * max(values[-1], 1.0)
    collinear = np.zeros(len(keep), dtype=bool)
    if null.any():
        null_space = vectors[:, null]
        collinear = np.abs(null_space).max(axis=1) > 1e-6
        # Drop redundant members one per null direction until the rest is full rank.
        basis = list(range(len(keep)))
        for _ in range(int(null.sum())):
            sub = corr[np.ix_(basis, basis)]
            sub_values, sub_vectors = np.linalg.eigh(sub)
            if sub_values[0] >= rank_tolerance * max(sub_values[-1], 1.0):
                break
            basis.pop(int(np.argmax(np.abs(sub_vectors[:, 0]))))
        basis = np.asarray(basis)
        inverse_diagonal = np.diag(np.linalg.inv(corr[np.ix_(basis, basis)]))
        finite = ~collinear[basis]
        vif[keep[basis[finite]]] = inverse_diagonal[finite]
        return vif
    vif[keep] = np.diag(np.linalg.inv(corr))
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


def pca_summary(train_x: np.ndarray, test_x: np.ndarray, pca: Any = None) -> dict[str, np.ndarray]:
    """PCA fitted on the train embeddings (or ``pca``, already fitted on them), applied to the
    test embeddings.

    Returns:
        ``explained``: for k = 1..min(N_train, D), the share of the test embeddings' variance
        captured by the first k train components (cumulative); ``projection``: the test
        embeddings on the first two.
    """
    from sklearn.decomposition import PCA

    pca = PCA().fit(train_x) if pca is None else pca
    centered = test_x - pca.mean_
    captured = (centered @ pca.components_.T).var(axis=0)
    total = centered.var(axis=0).sum()
    explained = np.cumsum(captured) / total if total > 0 else np.zeros(len(captured))
    return {"explained": explained, "projection": centered @ pca.components_[:2].T}


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def alignment(x: np.ndarray, labels: np.ndarray, ids: np.ndarray | None = None) -> float:
    """Wang & Isola's alignment E‖f(x)−f(y)‖² over positive pairs, on L2-normalized embeddings.

    Held-out images have no augmented twin, so the positive pairs are all pairs of distinct
    images of the same class. Closed form per class c with n_c members:
    Σ_{i≠j} ‖x_i − x_j‖² = 2·n_c·Σ‖x_i‖² − 2‖Σx_i‖². With ``ids`` (repeated rows of a
    resample), pairs of copies of one image, at distance 0, are not counted as pairs.
    """
    z = l2_normalize(x)
    ids = _copies(ids, len(z))
    total, pairs = 0.0, 0
    for k in np.unique(labels):  # a loop over classes, not samples
        members = z[labels == k]
        n = len(members)
        total += 2 * n * (members**2).sum() - 2 * (members.sum(axis=0) ** 2).sum()
        pairs += n * n - (np.unique(ids[labels == k], return_counts=True)[1] ** 2).sum()
    return float(total / pairs) if pairs else float("nan")


def uniformity(
    x: np.ndarray, t: float = 2.0, block_size: int = 2048, ids: np.ndarray | None = None
) -> float:
    """Wang & Isola's uniformity log E exp(−t‖f(x)−f(y)‖²) over all pairs of distinct embeddings,
    on L2-normalized embeddings (lower is more uniform). Blocked, with a running log-sum-exp.
    With ``ids`` (repeated rows of a resample), pairs of copies of one image are excluded."""
    z = l2_normalize(x)
    n = len(z)
    ids = _copies(ids, n)
    pairs = n * n - (np.unique(ids, return_counts=True)[1] ** 2).sum()
    if pairs == 0:
        return float("nan")
    running = -np.inf
    for start in range(0, n, block_size):
        rows = np.arange(start, min(start + block_size, n))
        squared = np.clip(2.0 - 2.0 * z[rows] @ z.T, 0.0, None)  # ‖u−v‖² = 2 − 2u·v on the sphere
        exponent = -t * squared
        exponent[ids[rows, None] == ids[None, :]] = -np.inf  # exclude self-pairs and copies
        peak = exponent.max()
        running = np.logaddexp(running, peak + np.log(np.exp(exponent - peak).sum()))
    return float(running - np.log(pairs))


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


def clustering_scores(
    train_x: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    seed: int = 0,
    silhouette_sample: int = 2000,
    clusters: np.ndarray | None = None,
) -> dict[str, float]:
    """k-means (k = number of classes) fitted on train, test rows assigned to its clusters, scored
    against the true classes (ARI, NMI, AMI); silhouette of the true classes on the test rows,
    on a seeded sample of at most ``silhouette_sample`` rows (the size used is reported).
    ``clusters``: the test rows' clusters, when :func:`kmeans_clusters` already assigned them."""
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        normalized_mutual_info_score,
        silhouette_score,
    )

    if clusters is None:
        clusters = kmeans_clusters(train_x, test_x, num_classes, seed)
    sample = min(silhouette_sample, len(test_x))
    present = len(np.unique(test_y)) > 1
    silhouette = (
        float(silhouette_score(test_x, test_y, sample_size=sample, random_state=seed))
        if present
        else float("nan")
    )
    return {
        "kmeans_ari": float(adjusted_rand_score(test_y, clusters)),
        "kmeans_nmi": float(normalized_mutual_info_score(test_y, clusters)),
        "kmeans_ami": float(adjusted_mutual_info_score(test_y, clusters)),
        "silhouette": silhouette,
        "silhouette_sample": sample,
    }


def kmeans_clusters(
    train_x: np.ndarray, test_x: np.ndarray, num_classes: int, seed: int = 0
) -> np.ndarray:
    """The cluster of each test row under k-means (k = number of classes) fitted on train."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=num_classes, n_init=4, random_state=seed).fit(train_x).predict(test_x)


def effective_rank(x: np.ndarray) -> float:
    """RankMe (Garrido et al., 2023): exp of the entropy of the normalized singular values."""
    singular = np.linalg.svd(np.asarray(x, dtype=np.float64), compute_uv=False)
    if singular.sum() == 0:
        return 0.0
    p = singular / singular.sum() + 1e-12
    return float(np.exp(-(p * np.log(p)).sum()))


def collapse_statistic(x: np.ndarray) -> float:
    """SimSiam's collapse check: the mean per-dimension std of L2-normalized embeddings, times
    √D. About 1 for embeddings spread over the sphere, 0 when they all coincide."""
    z = l2_normalize(x)
    return float(z.std(axis=0).mean() * np.sqrt(z.shape[1]))


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
