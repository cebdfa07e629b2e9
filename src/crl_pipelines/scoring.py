"""The scoring battery: every score of one encoder's embeddings, in one call.

Scores that need class labels are skipped (and say so) when the test labels are missing; the
label-free ones (uniformity, effective rank, collapse, correlation, VIF, PCA) always run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from crl_pipelines import metrics
from crl_pipelines.config import reject_unknown
from crl_pipelines.models import STAGES

DEPTHS = (*STAGES, "embedding")


@dataclass(frozen=True)
class ScoringConfig:
    """Settings of the battery (``evaluate`` in the parameters)."""

    probe_max_iter: int = 2000
    distance_block_size: int = 2048
    knn_k: int = 20
    uniformity_t: float = 2.0
    silhouette_sample: int = 2000
    tsne_sample: int = 1000
    collapse_threshold: float = 0.1
    seed: int = 0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ScoringConfig:
        reject_unknown(params, cls.__dataclass_fields__, "evaluate")
        return cls(**params)


def score_embeddings(embeddings: dict[str, np.ndarray], config: ScoringConfig) -> dict[str, Any]:
    """Score ``train_<depth>``/``test_<depth>`` features and ``train_labels``/``test_labels``.

    Returns:
        ``scores`` (name → float; NaN for what was skipped), ``skipped`` (name → why),
        ``seconds`` (name → time taken), and ``arrays`` (what the figures draw).
    """
    train_x, test_x = embeddings["train_embedding"], embeddings["test_embedding"]
    train_y, test_y = embeddings.get("train_labels"), embeddings.get("test_labels")
    labelled = train_y is not None and test_y is not None and (test_y >= 0).all()
    scores: dict[str, float] = {}
    arrays: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}

    def timed(name: str, compute: Any) -> Any:
        started = time.perf_counter()
        result = compute()
        seconds[name] = time.perf_counter() - started
        return result

    # Label-free scores.
    corr = timed("correlation", lambda: metrics.correlation_matrix(test_x))
    vif = timed("vif", lambda: metrics.variance_inflation_factors(test_x))
    finite_vif = vif[np.isfinite(vif)]
    pca = timed("pca", lambda: metrics.pca_summary(train_x, test_x))
    scores.update(
        pca2_variance=float(pca["explained"][min(1, len(pca["explained"]) - 1)]),
        mean_vif=float(finite_vif.mean()) if len(finite_vif) else float("inf"),
        vif_infinite=float((~np.isfinite(vif)).sum()),
        mean_abs_correlation=metrics.mean_abs_correlation(corr),
        uniformity=timed(
            "uniformity",
            lambda: metrics.uniformity(test_x, config.uniformity_t, config.distance_block_size),
        ),
        effective_rank=timed("effective_rank", lambda: metrics.effective_rank(test_x)),
        collapse_statistic=metrics.collapse_statistic(test_x),
    )
    scores["collapsed"] = float(scores["collapse_statistic"] < config.collapse_threshold)
    tsne_points, tsne_rows = timed(
        "tsne", lambda: metrics.tsne_projection(test_x, config.tsne_sample, config.seed)
    )
    arrays.update(
        correlation=corr,
        vif=vif,
        pca_explained=pca["explained"],
        pca_projection=pca["projection"],
        tsne_projection=tsne_points,
        tsne_rows=tsne_rows,
    )
    scores["tsne_sample"] = float(len(tsne_rows))

    label_scores = (
        "probe_accuracy",
        "class_separation",
        "alignment",
        "knn_accuracy",
        "precision_at_1",
        "map_at_r",
        "kmeans_ari",
        "kmeans_nmi",
        "kmeans_ami",
        "silhouette",
        *(f"probe_{depth}" for depth in DEPTHS),
    )
    if not labelled:
        for name in label_scores:
            scores[name] = float("nan")
            skipped[name] = "no class labels"
        return {"scores": scores, "skipped": skipped, "seconds": seconds, "arrays": arrays}

    num_classes = int(max(train_y.max(), test_y.max())) + 1
    distances = timed(
        "class_distances",
        lambda: metrics.class_distance_matrix(
            test_x, test_y, num_classes, config.distance_block_size
        ),
    )
    arrays.update(
        class_distances=distances,
        between_class_distances=metrics.normalized_between_class_distances(distances),
    )
    scores["class_separation"] = metrics.class_separation(distances)
    scores["alignment"] = timed("alignment", lambda: metrics.alignment(test_x, test_y))
    scores["knn_accuracy"] = timed(
        "knn",
        lambda: metrics.knn_accuracy(
            train_x, train_y, test_x, test_y, config.knn_k, config.distance_block_size
        ),
    )
    scores.update(timed("retrieval", lambda: metrics.retrieval_scores(test_x, test_y)))
    scores.update(
        timed(
            "clustering",
            lambda: metrics.clustering_scores(
                train_x, test_x, test_y, num_classes, config.seed, config.silhouette_sample
            ),
        )
    )
    for depth in DEPTHS:
        train_features = embeddings.get(f"train_{depth}")
        if train_features is None:
            scores[f"probe_{depth}"] = float("nan")
            skipped[f"probe_{depth}"] = "features not extracted"
            continue
        scores[f"probe_{depth}"] = timed(
            f"probe_{depth}",
            lambda features=train_features, depth=depth: metrics.linear_probe(
                features, train_y, embeddings[f"test_{depth}"], test_y, config.probe_max_iter
            ),
        )
    scores["probe_accuracy"] = scores["probe_embedding"]
    return {"scores": scores, "skipped": skipped, "seconds": seconds, "arrays": arrays}
