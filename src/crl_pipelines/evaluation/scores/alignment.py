"""Alignment (Wang & Isola): E‖f(x)−f(y)‖² over same-class pairs of normalized test embeddings."""

from __future__ import annotations

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "alignment",
    needs_labels=True,
    heading="alignment",
    better=-1,
    meaning="E‖f(x)−f(y)‖² over same-class pairs (normalized)",
    in_table=True,
    order=100,
)
def _alignment(run: RunContext) -> float:
    return metrics.alignment(run.root.test_x, run.root.test_y, run.counts)
