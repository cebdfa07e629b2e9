"""The scoring battery: every registered score of one encoder's embeddings, in one call.

Scores that need class labels are skipped (and say so) when the test labels are missing; the
label-free ones (uniformity, effective rank, collapse, correlation, VIF, PCA) always run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field, Strict

from crl_pipelines.evaluation.scores import SCORES, RunContext, Skip
from crl_pipelines.evaluation.uncertainty import bootstrap_rows, replicates
from crl_pipelines.validation import (
    NonNegative,
    NonNegativeInt,
    OpenFraction,
    Positive,
    PositiveInt,
    Settings,
)

AtLeastTwo = Annotated[int, Strict(), Field(ge=2)]


class ScoringSettings(Settings):
    """Settings of the battery (``evaluate`` in the parameters)."""

    probe_max_iter: PositiveInt = 2000  # logistic-regression iterations of the linear probes
    distance_block_size: PositiveInt = 2048  # rows per block of pairwise distances
    knn_k: PositiveInt = 20  # neighbours of the cosine kNN classifier
    uniformity_t: Positive = 2.0  # t of log E exp(−t‖f(x)−f(y)‖²)
    silhouette_sample: AtLeastTwo = 2000  # test rows the silhouette is computed on
    tsne_sample: AtLeastTwo = 1000  # test rows in the t-SNE scatter
    collapse_threshold: NonNegative = 0.1  # spread below which a run is flagged collapsed
    seed: NonNegativeInt = 0  # k-means, silhouette, t-SNE and bootstrap sampling
    bootstrap_resamples: NonNegativeInt = 500  # test-image resamples behind each interval; 0: none
    confidence: OpenFraction = 0.95  # of the intervals
    significance: OpenFraction = 0.05  # the Holm-adjusted p below which two experiments differ


@dataclass(frozen=True)
class BatteryResult:
    """One run's scores (registry order; NaN where skipped) and what the figures need."""

    labelled: bool  # whether the run has class labels (the label scores were computed)
    scores: dict[str, float]
    skipped: dict[str, str]  # name → why it was not scored
    seconds: dict[str, float]  # name → time taken, incl. shared work it was the first to need
    arrays: dict[str, np.ndarray]  # what the figures draw
    replicates: dict[str, np.ndarray]  # shown score → its value on each bootstrap resample
    outcomes: dict[str, np.ndarray]  # per-image score → each test image's value (for McNemar)


def score_embeddings(embeddings: dict[str, np.ndarray], config: ScoringSettings) -> BatteryResult:
    """Every score of `SCORES` on ``train_<depth>``/``test_<depth>`` features and
    ``train_labels``/``test_labels``."""
    run = RunContext(embeddings, config)
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
    shown = [name for name, score in SCORES.items() if score.heading and name not in skipped]
    rows = bootstrap_rows(len(run.test_x), config.bootstrap_resamples, config.seed)
    resampled = replicates(run, shown, rows)
    seconds["bootstrap"] = time.perf_counter() - started
    outcomes = {
        name: SCORES[name].per_image(run) for name in shown if SCORES[name].per_image is not None
    }
    return BatteryResult(run.labelled, scores, skipped, seconds, run.arrays(), resampled, outcomes)
