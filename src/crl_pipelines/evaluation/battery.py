"""The scoring battery: every registered score of one encoder's embeddings, in one call.

Scores that need class labels are skipped (and say so) when the test labels are missing; the
label-free ones (uniformity, effective rank, collapse, correlation, VIF, PCA) always run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from crl_pipelines.evaluation.context import RunContext, Skip
from crl_pipelines.evaluation.scores import SCORES
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.evaluation.uncertainty import replicates, resample_rows


@dataclass(frozen=True)
class BatteryResult:
    """One run's scores (registry order; NaN where skipped) and what the figures need."""

    labelled: bool  # whether the run has class labels (the label scores were computed)
    scores: dict[str, float]
    skipped: dict[str, str]  # name → why it was not scored
    seconds: dict[str, float]  # name → time taken, incl. shared work it was the first to need
    arrays: dict[str, np.ndarray]  # what the figures draw
    replicates: dict[str, np.ndarray]  # shown score → its value on each resample
    resampling: dict[str, str]  # shown score → how its resamples were drawn (its interval)
    outcomes: dict[str, np.ndarray]  # per-image score → each test image's value (for McNemar)


def score_embeddings(embeddings: dict[str, np.ndarray], config: ScoringSettings) -> BatteryResult:
    """Every score of `SCORES` on ``train_<depth>``/``test_<depth>`` features and
    ``train_labels``/``test_labels``."""
    run = RunContext(embeddings, config)
    if run.labelled:
        config.check_train_size(len(run.train_x))
    scores: dict[str, float] = {}
    skipped: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for name, score in SCORES.items():
        started = time.perf_counter()
        try:
            if score.needs_labels and not run.labelled:
                raise Skip("no class labels")
            scores[name] = score.compute(run)
        except Skip as reason:
            scores[name], skipped[name] = math.nan, str(reason)
            continue
        seconds[name] = time.perf_counter() - started
    started = time.perf_counter()
    shown = [name for name, score in SCORES.items() if score.resampled and name not in skipped]
    resampling = {name: SCORES[name].interval for name in shown}
    resampled: dict[str, np.ndarray] = {}
    for method in dict.fromkeys(resampling.values()):
        rows = resample_rows(method, len(run.test_x), config.bootstrap_resamples, config.seed)
        names = [name for name in shown if resampling[name] == method]
        resampled |= replicates(run, names, rows)
    seconds["bootstrap"] = time.perf_counter() - started
    outcomes = {
        name: SCORES[name].per_image(run) for name in shown if SCORES[name].per_image is not None
    }
    return BatteryResult(
        run.labelled, scores, skipped, seconds, run.arrays(), resampled, resampling, outcomes
    )
