"""Class separation: mean between-class ÷ mean within-class distance (guide part 2)."""

from __future__ import annotations

import numpy as np

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "class_separation",
    needs_labels=True,
    heading="separation",
    better=1,
    meaning="mean between-class ÷ mean within-class distance",
    in_table=True,
    order=50,
    batched=lambda run, rows: np.array(
        [metrics.class_separation(matrix) for matrix in run.resampled_class_distances(rows)]
    ),
)
def _class_separation(run: RunContext) -> float:
    return metrics.class_separation(run.class_distances)
