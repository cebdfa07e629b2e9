"""What every score is (:class:`Score`: how it is computed and how the comparison and report show
it) and the registry :data:`SCORES`.

The battery, the comparison table, the ranking and the report all read :data:`SCORES`, so
nothing else changes when a score is added. :data:`SCORES` is in output order: the order of
each run's scores and of the runs' tables in the report. The
ranking and the comparison table follow ``Score.order`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.registry import Registry

ScoreFunction = Callable[[RunContext], float]
KINDS = ("score", "count", "flag")
# How a score's interval is made from its resamples (crl_pipelines.evaluation.uncertainty):
# "percentile": the percentile bootstrap, sound for a mean of per-image values and for pairwise
# scores that leave out the pairs of an image with its copies; "subsample": half-samples drawn
# without replacement and the basic interval, for scores that repeated rows bias (a covariance,
# a rank, a clustering's agreement); "none": no interval (the report says why).
INTERVALS = ("percentile", "subsample", "none")


@dataclass(frozen=True)
class Score:
    """One registered score: how it is computed and how the comparison and report show it."""

    compute: ScoreFunction  # may raise Skip("why") when this run cannot be scored
    needs_labels: bool  # skipped ("no class labels") when the run has none
    heading: str = ""  # its name in the ranking and the comparison table
    better: int = 0  # +1 higher is better, -1 lower is better, 0 descriptive (never ranked)
    meaning: str = ""  # one line beside its value in each run's table
    in_table: bool = False  # a column of the comparison table
    order: int = 1000  # place in the ranking and the table, ascending (ties: registry order)
    fmt: str = ".3f"  # format spec of every value it shows ("d": an integer, when it is one)
    # "score": a measurement (compared and ranked); "count": how many rows a score used;
    # "flag": 1 or 0 (e.g. collapsed). Counts and flags are shown beside each run, never scored
    # (a count has no heading: the battery resamples only scores with one, see battery.py).
    kind: str = "score"
    # the score as a mean of one value per test image (right/wrong, or NaN where undefined), for
    # exact bootstrap resamples and McNemar's test (crl_pipelines.evaluation.uncertainty)
    per_image: Callable[[RunContext], np.ndarray] | None = None
    # the score on every bootstrap resample at once, from the full run and the resamples' rows
    # (B × N): for pairwise scores, whose pairs are formed once instead of once per resample
    batched: Callable[[RunContext, np.ndarray], np.ndarray] | None = None
    interval: str = "percentile"  # one of INTERVALS; a count or a flag has none
    why_no_interval: str = ""  # with interval="none" on a score: why, in the report's words

    def __post_init__(self) -> None:
        if (self.better or self.in_table) and not self.heading:
            raise ValueError("a ranked score or a table column needs a heading")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind != "score" and (self.better or self.in_table):
            raise ValueError("a count or a flag is neither ranked nor a column of the score table")
        if self.interval not in INTERVALS:
            raise ValueError(
                f"interval must be one of {', '.join(INTERVALS)}, not {self.interval!r}"
            )
        if self.kind == "score" and self.interval == "none" and not self.why_no_interval:
            raise ValueError("a score without an interval says why (why_no_interval)")

    @property
    def resampled(self) -> bool:
        """Whether its runs carry resampled values: a shown score with an interval method."""
        return bool(self.heading) and self.kind == "score" and self.interval != "none"


SCORES: Registry[Score] = Registry("score", Score)
"""Every score by name, in output order: ``@SCORES.register("<name>", needs_labels=..., ...)`` on
its function, with the :class:`Score` fields."""


def mean_of(per_image: Callable[[RunContext], np.ndarray]) -> ScoreFunction:
    """The score that is the mean of its ``per_image`` values over the run's test rows (NaN
    ones, e.g. images outside a sample, left out): register it with the same ``per_image``."""

    def compute(run: RunContext) -> float:
        return float(np.nanmean(run.per_image(per_image(run))))

    return compute


def in_order() -> list[tuple[str, Score]]:
    """The registered scores in ranking and comparison-table order."""
    return sorted(SCORES.items(), key=lambda item: item[1].order)
