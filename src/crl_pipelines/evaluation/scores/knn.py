"""kNN accuracy: the vote of the nearest (cosine) train embeddings."""

from __future__ import annotations

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "knn_accuracy",
    needs_labels=True,
    heading="kNN acc.",
    better=1,
    meaning="k-nearest-neighbour (cosine) test accuracy",
    in_table=True,
    order=20,
    per_image=lambda run: run.knn_correct,
)
def _knn_accuracy(run: RunContext) -> float:
    return float(run.per_image(run.knn_correct).mean())
