"""Effective rank (RankMe, Garrido et al. 2023): the exponential of the entropy of the
normalized singular values."""

from __future__ import annotations

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "effective_rank",
    needs_labels=False,
    heading="eff. rank",
    better=1,
    meaning="RankMe: exp entropy of the singular values",
    in_table=True,
    order=120,
    interval="subsample",
)
def _effective_rank(run: RunContext) -> float:
    return metrics.effective_rank(run.moments)
