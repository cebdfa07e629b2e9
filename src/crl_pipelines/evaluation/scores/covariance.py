"""Scores of the test embeddings' covariance: variance on two principal components, VIF and
correlation of the features (guide part 2)."""

from __future__ import annotations

import math

import numpy as np

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.context import RunContext, Skip
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "pca2_variance",
    needs_labels=False,
    heading="PCA-2 var.",
    meaning="share of variance on two principal components",
    in_table=True,
    order=130,
    interval="subsample",
)
def _pca2_variance(run: RunContext) -> float:
    explained = run.pca_explained
    return float(explained[min(1, len(explained) - 1)])


@SCORES.register(
    "mean_vif",
    needs_labels=False,
    heading="mean VIF",
    better=-1,
    meaning="mean variance inflation factor (finite ones)",
    in_table=True,
    order=140,
    fmt=".1f",
    interval="subsample",
)
def _mean_vif(run: RunContext) -> float:
    finite = run.vif[np.isfinite(run.vif)]
    if run.rows is not None and len(finite) < np.isfinite(run.root.vif).sum():
        raise Skip("fewer rows than features: this resample's VIFs are not the run's")
    return float(finite.mean()) if len(finite) else math.inf


@SCORES.register(
    "vif_infinite",
    needs_labels=False,
    heading="inf. VIFs",
    better=-1,
    meaning="features that are constant or exactly collinear",
    order=150,
    fmt="d",
    interval="none",
    why_no_interval="a count of exactly collinear features, which fewer rows only raise",
)
def _vif_infinite(run: RunContext) -> float:
    return float((~np.isfinite(run.vif)).sum())


@SCORES.register(
    "mean_abs_correlation",
    needs_labels=False,
    heading="mean abs. corr.",
    better=-1,
    meaning="mean |Pearson r| between features",
    in_table=True,
    order=160,
    interval="subsample",
)
def _mean_abs_correlation(run: RunContext) -> float:
    return metrics.mean_abs_correlation(run.correlation)
