"""Clustering: k-means (k = the number of classes) fitted on train, against the classes."""

from __future__ import annotations

from crl_pipelines.evaluation.context import RunContext
from crl_pipelines.evaluation.scores.base import SCORES


@SCORES.register(
    "kmeans_ari",
    needs_labels=True,
    heading="ARI",
    better=1,
    meaning="adjusted Rand index of k-means clusters",
    order=60,
    interval="subsample",
)
def _kmeans_ari(run: RunContext) -> float:
    return run.clustering["kmeans_ari"]


@SCORES.register(
    "kmeans_nmi",
    needs_labels=True,
    heading="NMI",
    better=1,
    meaning="normalized mutual information of k-means clusters",
    order=70,
    interval="subsample",
)
def _kmeans_nmi(run: RunContext) -> float:
    return run.clustering["kmeans_nmi"]


@SCORES.register(
    "kmeans_ami",
    needs_labels=True,
    heading="AMI",
    better=1,
    meaning="adjusted mutual information of k-means clusters",
    in_table=True,
    order=80,
    interval="subsample",
)
def _kmeans_ami(run: RunContext) -> float:
    return run.clustering["kmeans_ami"]
