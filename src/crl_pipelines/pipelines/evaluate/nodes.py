"""Evaluate: score each encoder's embeddings, draw its figures, and compare all encoders."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crl_pipelines import plots
from crl_pipelines.experiments import FLOOR
from crl_pipelines.metrics import normalized_vif, score_embeddings
from crl_pipelines.report import COLUMNS, comparison_table, metrics_json, to_markdown

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Scores as JSON: arrays to lists, non-finite numbers to None."""
    if isinstance(value, np.ndarray):
        return [_jsonable(item) for item in value.tolist()]
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def score_encoder(
    embeddings: dict[str, np.ndarray], params: dict[str, Any], name: str
) -> tuple[dict[str, Any], Figure, Figure, Figure, Figure, Figure]:
    """One encoder's scores and its figures: distances, histogram, correlation, VIF, PCA."""
    class_names = [str(c) for c in embeddings["class_names"]]
    scores = score_embeddings(
        {"embedding": embeddings["train_embedding"], "labels": embeddings["train_labels"]},
        {"embedding": embeddings["test_embedding"], "labels": embeddings["test_labels"]},
        num_classes=len(class_names),
        probe_max_iter=int(params["probe_max_iter"]),
        block_size=int(params["distance_block_size"]),
    )
    log.info(
        "%s: probe %.3f, PCA-2 %.2f, separation %.2f, mean VIF %.2f",
        name,
        scores["probe_accuracy"],
        scores["pca2_variance"],
        scores["class_separation"],
        scores["mean_vif"],
    )
    figures = (
        plots.class_distance_heatmap(scores["class_distances"], class_names, name),
        plots.between_class_histogram(scores["between_class_distances"], name),
        plots.correlation_heatmap(scores["correlation"], name),
        plots.vif_bars(normalized_vif(scores["vif"]), name),
        plots.pca_scatter(
            scores["pca_projection"],
            embeddings["test_labels"],
            class_names,
            scores["pca2_variance"],
            name,
        ),
    )
    record = {key: _jsonable(value) for key, value in scores.items() if key != "pca_projection"}
    return ({"experiment": name, **record}, *figures)


def compare_encoders(**scores: dict[str, Any]) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The comparison table (CSV and Markdown) and ``metrics.json`` over all encoders."""
    scalars = {
        name: {key: float("inf") if record[key] is None else record[key] for key in COLUMNS}
        for name, record in scores.items()
    }
    table = comparison_table(scalars, floor=FLOOR)
    floor_accuracy = scalars.get(FLOOR, {}).get("probe_accuracy")
    if floor_accuracy is not None:
        below = [
            name
            for name, row in scalars.items()
            if name != FLOOR and row["probe_accuracy"] <= floor_accuracy
        ]
        if below:
            log.warning(
                "probe accuracy at or below the untrained floor (%.3f): %s", floor_accuracy, below
            )
    return table, to_markdown(table, floor=FLOOR), metrics_json(table)
