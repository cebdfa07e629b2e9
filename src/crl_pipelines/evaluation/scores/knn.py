"""kNN accuracy: the vote of the nearest (cosine) train embeddings, by a majority of ``knn_k``
and by the self-supervised protocol (k = 200, votes weighted exp(s/0.1); Wu et al., 2018)."""

from __future__ import annotations

import numpy as np

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES, mean_of


def _knn_correct(run: RunContext) -> np.ndarray:
    return run.knn_correct


def _weighted_knn_correct(run: RunContext) -> np.ndarray:
    return run.weighted_knn_correct


SCORES.register(
    "knn_accuracy",
    needs_labels=True,
    heading="kNN acc.",
    better=1,
    meaning="k-nearest-neighbour (cosine) test accuracy",
    in_table=True,
    order=20,
    per_image=_knn_correct,
)(mean_of(_knn_correct))

SCORES.register(
    "protocol_knn_accuracy",
    needs_labels=True,
    heading="w-kNN acc.",
    better=1,
    meaning="protocol kNN (Wu et al. 2018): cosine, votes weighted exp(s/τ), k 200, τ 0.1 "
    "by default (evaluate.protocol_knn_k, protocol_knn_temperature)",
    in_table=True,
    order=25,
    per_image=_weighted_knn_correct,
)(mean_of(_weighted_knn_correct))


@SCORES.register(
    "protocol_knn_neighbours",
    needs_labels=True,
    meaning="neighbours the protocol kNN used (its k, capped by the train images)",
    fmt="d",
    kind="count",
)
def _protocol_knn_neighbours(run: RunContext) -> float:
    return float(min(run.config.protocol_knn_k, len(run.train_x)))
