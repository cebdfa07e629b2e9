"""How many test rows the t-SNE figure shows."""

from __future__ import annotations

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "tsne_sample",
    needs_labels=False,
    meaning="test rows the t-SNE figure shows",
    fmt="d",
    kind="count",
)
def _tsne_sample(run: RunContext) -> float:
    return float(len(run.tsne[1]))
