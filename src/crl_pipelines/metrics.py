"""Scores of a representation (guide part 2), computed on held-out test embeddings.

Anything fitted (the probe, the PCA basis) is fitted on the train embeddings only. Distances are
computed in blocks and VIF in closed form, so large embeddings score in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_distance_matrix(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int, block_size: int = 2048
) -> np.ndarray:
    """D[i, j] = mean Euclidean distance between embeddings of class i and of class j.

    On the diagonal the zero self-pairs are excluded (a class's mean distance between distinct
    members). Pairwise distances are formed a block of rows at a time and summed per class pair by
    one-hot products, so memory stays at block_size × N.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    x = x - x.mean(axis=0)  # distances are shift-invariant; centring keeps the expansion precise
    onehot = np.eye(num_classes)[labels]
    squared_norms = np.einsum("ij,ij->i", x, x)
    sums = np.zeros((num_classes, num_classes))
    for start in range(0, len(x), block_size):
        block = x[start : start + block_size]
        rows = np.arange(start, start + len(block))
        squared = squared_norms[rows, None] + squared_norms[None, :] - 2 * block @ x.T
        squared[rows - start, rows] = 0.0  # exact zeros for self-pairs, not rounding noise
        sums += onehot[rows].T @ np.sqrt(np.clip(squared, 0, None)) @ onehot
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    pairs = np.outer(counts, counts) - np.diag(counts)  # self-pairs removed from the diagonal
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
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=max_iter))
    probe.fit(train_x, train_y)
    return float(probe.score(test_x, test_y))


def pca_summary(train_x: np.ndarray, test_x: np.ndarray) -> dict[str, np.ndarray]:
    """PCA fitted on the train embeddings, applied to the test embeddings.

    Returns:
        ``explained``: for k = 1..min(N_train, D), the share of the test embeddings' variance
        captured by the
        first k train components (cumulative); ``projection``: test embeddings on the first two.
    """
    from sklearn.decomposition import PCA

    pca = PCA().fit(train_x)
    centered = test_x - pca.mean_
    captured = (centered @ pca.components_.T).var(axis=0)
    total = centered.var(axis=0).sum()
    explained = np.cumsum(captured) / total if total > 0 else np.zeros(len(captured))
    return {"explained": explained, "projection": centered @ pca.components_[:2].T}


def score_embeddings(
    train: dict[str, np.ndarray],
    test: dict[str, np.ndarray],
    num_classes: int,
    probe_max_iter: int = 2000,
    block_size: int = 2048,
) -> dict[str, Any]:
    """The guide's battery on one encoder's embeddings.

    Args:
        train, test: ``embedding`` (N×D) and ``labels`` (N,) of each split.
        num_classes: the number of classes.

    Returns:
        Scalar scores (``probe_accuracy``, ``pca2_variance``, ``class_separation``,
        ``mean_vif``, ``vif_infinite``, ``mean_abs_correlation``) and the arrays behind the figures.
    """
    test_x, test_y = test["embedding"], test["labels"]
    distances = class_distance_matrix(test_x, test_y, num_classes, block_size)
    corr = correlation_matrix(test_x)
    vif = variance_inflation_factors(test_x)
    pca = pca_summary(train["embedding"], test_x)
    finite_vif = vif[np.isfinite(vif)]
    return {
        "probe_accuracy": linear_probe(
            train["embedding"], train["labels"], test_x, test_y, probe_max_iter
        ),
        "pca2_variance": float(pca["explained"][min(1, len(pca["explained"]) - 1)]),
        "class_separation": class_separation(distances),
        "mean_vif": float(finite_vif.mean()) if len(finite_vif) else float("inf"),
        "vif_infinite": int((~np.isfinite(vif)).sum()),
        "mean_abs_correlation": mean_abs_correlation(corr),
        "class_distances": distances,
        "between_class_distances": normalized_between_class_distances(distances),
        "correlation": corr,
        "vif": vif,
        "pca_explained": pca["explained"],
        "pca_projection": pca["projection"],
    }
