"""Collapse: the spread of the normalized embeddings, and the flag when it is below the
threshold."""

from __future__ import annotations

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "collapse_statistic",
    needs_labels=False,
    heading="spread",
    better=1,
    meaning="std of normalized embeddings × √D (0 = collapsed)",
    order=170,
    interval="subsample",
)
def _collapse_statistic(run: RunContext) -> float:
    return run.spread


@SCORES.register(
    "collapsed",
    needs_labels=False,
    heading="collapsed",
    meaning="1 when the spread is below the threshold",
    order=180,
    fmt="d",
    kind="flag",
)
def _collapsed(run: RunContext) -> float:
    return float(run.spread < run.config.collapse_threshold)
