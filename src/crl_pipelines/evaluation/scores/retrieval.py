"""Retrieval within the test set, leave-one-out: precision at 1 and MAP@R."""

from __future__ import annotations

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "precision_at_1",
    needs_labels=True,
    heading="P@1",
    better=1,
    meaning="retrieval precision at 1 within the test set",
    order=30,
    per_image=lambda run: run.retrieval_outcomes["hit_at_1"],
)
def _precision_at_1(run: RunContext) -> float:
    return run.retrieval["precision_at_1"]


@SCORES.register(
    "map_at_r",
    needs_labels=True,
    heading="MAP@R",
    better=1,
    meaning="retrieval mean average precision at R",
    in_table=True,
    order=40,
    per_image=lambda run: run.retrieval_outcomes["average_precision"],
)
def _map_at_r(run: RunContext) -> float:
    return run.retrieval["map_at_r"]
