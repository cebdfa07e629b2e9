"""The silhouette of the true classes, on a seeded sample of test rows."""

from __future__ import annotations

import math

import numpy as np

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "silhouette",
    needs_labels=True,
    heading="silhouette",
    better=1,
    meaning="silhouette of the true classes",
    in_table=True,
    order=90,
    per_image=lambda run: run.silhouette_values,
)
def _silhouette(run: RunContext) -> float:
    values = run.per_image(run.silhouette_values)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan


@SCORES.register(
    "silhouette_sample",
    needs_labels=True,
    meaning="test rows the silhouette used",
    fmt="d",
    kind="count",
)
def _silhouette_sample(run: RunContext) -> float:
    return min(run.config.silhouette_sample, len(run.root.test_x))  # an int: scores.json writes 50
