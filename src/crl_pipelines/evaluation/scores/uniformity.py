"""Uniformity (Wang & Isola): log E exp(−t‖f(x)−f(y)‖²) over all pairs of normalized test
embeddings, every bootstrap resample from one pass over the pairs."""

from __future__ import annotations

import numpy as np

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


def _uniformities(run: RunContext, rows: np.ndarray) -> np.ndarray:
    weights = metrics.resample_weights(rows, len(run.test_x))
    t, block = run.config.uniformity_t, run.config.distance_block_size
    return metrics.resampled_uniformity(run.test_x, weights, t, block)


@SCORES.register(
    "uniformity",
    needs_labels=False,
    heading="uniformity",
    better=-1,
    meaning="log E exp(−2‖f(x)−f(y)‖²) over all pairs (normalized)",
    in_table=True,
    order=110,
    batched=_uniformities,
)
def _uniformity(run: RunContext) -> float:
    if run.rows is not None:
        return float(_uniformities(run.root, run.rows[None])[0])
    return metrics.uniformity(run.test_x, run.config.uniformity_t, run.config.distance_block_size)
