"""The score registry: every score of the battery, what it needs, and how it is shown.

A score is one small function of a `RunContext` plus one `register` call; the battery, the
comparison table, the ranking, ``metrics.json`` and the report all read `SCORES`, so nothing else
changes when a score is added. Shared work (the k-means fit, the class distance matrix, the PCA,
the retrieval neighbours, the probes) is a cached property of the context: computed once, on first
use, by whichever score needs it first.

`SCORES` is in output order: the order of each run's scores, of ``metrics.json`` and of the runs'
tables in the report. The ranking and the comparison table follow ``Score.order`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from operator import methodcaller
from typing import TYPE_CHECKING, Any

import numpy as np

from crl_pipelines.evaluation import metrics
from crl_pipelines.models import STAGES

if TYPE_CHECKING:
    from crl_pipelines.evaluation.battery import ScoringSettings

DEPTHS = (*STAGES, "embedding")


class Skip(Exception):
    """Raised by a score function that cannot score this run; the message says why."""


class RunContext:
    """One run's embeddings and settings, and the intermediates that several scores share.

    Each intermediate is computed on first use and kept, so scores that come from one computation
    (k-means → ARI/NMI/AMI, retrieval → P@1/MAP@R) pay for it once.
    """

    def __init__(self, embeddings: dict[str, np.ndarray], config: ScoringSettings) -> None:
        self.embeddings, self.config = embeddings, config
        self.train_x, self.test_x = embeddings["train_embedding"], embeddings["test_embedding"]
        self.train_y, self.test_y = embeddings.get("train_labels"), embeddings.get("test_labels")
        self.labelled = bool(
            self.train_y is not None and self.test_y is not None and (self.test_y >= 0).all()
        )
        self._probes: dict[str, float] = {}

    @cached_property
    def num_classes(self) -> int:
        return int(max(self.train_y.max(), self.test_y.max())) + 1

    @cached_property
    def correlation(self) -> np.ndarray:
        return metrics.correlation_matrix(self.test_x)

    @cached_property
    def vif(self) -> np.ndarray:
        return metrics.variance_inflation_factors(self.test_x)

    @cached_property
    def pca(self) -> dict[str, np.ndarray]:
        return metrics.pca_summary(self.train_x, self.test_x)

    @cached_property
    def spread(self) -> float:
        return metrics.collapse_statistic(self.test_x)

    @cached_property
    def tsne(self) -> tuple[np.ndarray, np.ndarray]:
        """(2-D points, sampled test rows)."""
        return metrics.tsne_projection(self.test_x, self.config.tsne_sample, self.config.seed)

    @cached_property
    def class_distances(self) -> np.ndarray:
        return metrics.class_distance_matrix(
            self.test_x, self.test_y, self.num_classes, self.config.distance_block_size
        )

    @cached_property
    def retrieval(self) -> dict[str, float]:
        return metrics.retrieval_scores(self.test_x, self.test_y)

    @cached_property
    def clustering(self) -> dict[str, float]:
        return metrics.clustering_scores(
            self.train_x,
            self.test_x,
            self.test_y,
            self.num_classes,
            self.config.seed,
            self.config.silhouette_sample,
        )

    def probe(self, depth: str) -> float:
        """Linear-probe test accuracy of the pooled features after ``depth`` (once per depth)."""
        if depth not in self._probes:
            train = self.embeddings.get(f"train_{depth}")
            if train is None:
                raise Skip("features not extracted")
            test = self.embeddings[f"test_{depth}"]
            self._probes[depth] = metrics.linear_probe(
                train, self.train_y, test, self.test_y, self.config.probe_max_iter
            )
        return self._probes[depth]

    def arrays(self) -> dict[str, np.ndarray]:
        """What the figures draw (the class distances only when there are labels)."""
        arrays = {
            "correlation": self.correlation,
            "vif": self.vif,
            "pca_explained": self.pca["explained"],
            "pca_projection": self.pca["projection"],
            "tsne_projection": self.tsne[0],
            "tsne_rows": self.tsne[1],
        }
        if self.labelled:
            arrays["class_distances"] = self.class_distances
            arrays["between_class_distances"] = metrics.normalized_between_class_distances(
                self.class_distances
            )
        return arrays


ScoreFunction = Callable[[RunContext], float]


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
    fmt: str = ".3f"  # format spec of its values below 1000 (larger ones show no decimals)

    def __post_init__(self) -> None:
        if (self.better or self.in_table) and not self.heading:
            raise ValueError("a ranked score or a table column needs a heading")


SCORES: dict[str, Score] = {}


def register(name: str, **entry: Any) -> Callable[[ScoreFunction], ScoreFunction]:
    """Decorator: add the function to `SCORES` as ``name``, with the `Score` fields given."""

    def add(compute: ScoreFunction) -> ScoreFunction:
        SCORES[name] = Score(compute, **entry)
        return compute

    return add


def in_order() -> list[tuple[str, Score]]:
    """The registered scores in ranking and comparison-table order."""
    return sorted(SCORES.items(), key=lambda item: item[1].order)


# Label-free scores.


@register(
    "pca2_variance",
    needs_labels=False,
    heading="PCA-2 var.",
    meaning="share of variance on two principal components",
    in_table=True,
    order=130,
)
def _pca2_variance(run: RunContext) -> float:
    explained = run.pca["explained"]
    return float(explained[min(1, len(explained) - 1)])


@register(
    "mean_vif",
    needs_labels=False,
    heading="mean VIF",
    better=-1,
    meaning="mean variance inflation factor (finite ones)",
    in_table=True,
    order=140,
)
def _mean_vif(run: RunContext) -> float:
    finite = run.vif[np.isfinite(run.vif)]
    return float(finite.mean()) if len(finite) else math.inf


@register(
    "vif_infinite",
    needs_labels=False,
    heading="inf. VIFs",
    better=-1,
    meaning="features that are constant or exactly collinear",
    order=150,
)
def _vif_infinite(run: RunContext) -> float:
    return float((~np.isfinite(run.vif)).sum())


@register(
    "mean_abs_correlation",
    needs_labels=False,
    heading="mean abs. corr.",
    better=-1,
    meaning="mean |Pearson r| between features",
    in_table=True,
    order=160,
)
def _mean_abs_correlation(run: RunContext) -> float:
    return metrics.mean_abs_correlation(run.correlation)


@register(
    "uniformity",
    needs_labels=False,
    heading="uniformity",
    better=-1,
    meaning="log E exp(−2‖f(x)−f(y)‖²) over all pairs (normalized)",
    in_table=True,
    order=110,
)
def _uniformity(run: RunContext) -> float:
    return metrics.uniformity(run.test_x, run.config.uniformity_t, run.config.distance_block_size)


@register(
    "effective_rank",
    needs_labels=False,
    heading="eff. rank",
    better=1,
    meaning="RankMe: exp entropy of the singular values",
    in_table=True,
    order=120,
)
def _effective_rank(run: RunContext) -> float:
    return metrics.effective_rank(run.test_x)


@register(
    "collapse_statistic",
    needs_labels=False,
    heading="spread",
    better=1,
    meaning="std of normalized embeddings × √D (0 = collapsed)",
    order=170,
)
def _collapse_statistic(run: RunContext) -> float:
    return run.spread


@register(
    "collapsed",
    needs_labels=False,
    heading="collapsed",
    better=-1,
    meaning="1 when the spread is below the threshold",
    in_table=True,
    order=180,
)
def _collapsed(run: RunContext) -> float:
    return float(run.spread < run.config.collapse_threshold)


@register("tsne_sample", needs_labels=False)  # a count: the test rows the t-SNE figure shows
def _tsne_sample(run: RunContext) -> float:
    return float(len(run.tsne[1]))


# Scores that need class labels.


@register(
    "class_separation",
    needs_labels=True,
    heading="separation",
    better=1,
    meaning="mean between-class ÷ mean within-class distance",
    in_table=True,
    order=50,
)
def _class_separation(run: RunContext) -> float:
    return metrics.class_separation(run.class_distances)


@register(
    "alignment",
    needs_labels=True,
    heading="alignment",
    better=-1,
    meaning="E‖f(x)−f(y)‖² over same-class pairs (normalized)",
    in_table=True,
    order=100,
)
def _alignment(run: RunContext) -> float:
    return metrics.alignment(run.test_x, run.test_y)


@register(
    "knn_accuracy",
    needs_labels=True,
    heading="kNN acc.",
    better=1,
    meaning="k-nearest-neighbour (cosine) test accuracy",
    in_table=True,
    order=20,
)
def _knn_accuracy(run: RunContext) -> float:
    config = run.config
    return metrics.knn_accuracy(
        run.train_x, run.train_y, run.test_x, run.test_y, config.knn_k, config.distance_block_size
    )


@register(
    "precision_at_1",
    needs_labels=True,
    heading="P@1",
    better=1,
    meaning="retrieval precision at 1 within the test set",
    order=30,
)
def _precision_at_1(run: RunContext) -> float:
    return run.retrieval["precision_at_1"]


@register(
    "map_at_r",
    needs_labels=True,
    heading="MAP@R",
    better=1,
    meaning="retrieval mean average precision at R",
    in_table=True,
    order=40,
)
def _map_at_r(run: RunContext) -> float:
    return run.retrieval["map_at_r"]


@register(
    "kmeans_ari",
    needs_labels=True,
    heading="ARI",
    better=1,
    meaning="adjusted Rand index of k-means clusters",
    order=60,
)
def _kmeans_ari(run: RunContext) -> float:
    return run.clustering["kmeans_ari"]


@register(
    "kmeans_nmi",
    needs_labels=True,
    heading="NMI",
    better=1,
    meaning="normalized mutual information of k-means clusters",
    order=70,
)
def _kmeans_nmi(run: RunContext) -> float:
    return run.clustering["kmeans_nmi"]


@register(
    "kmeans_ami",
    needs_labels=True,
    heading="AMI",
    better=1,
    meaning="adjusted mutual information of k-means clusters",
    in_table=True,
    order=80,
)
def _kmeans_ami(run: RunContext) -> float:
    return run.clustering["kmeans_ami"]


@register(
    "silhouette",
    needs_labels=True,
    heading="silhouette",
    better=1,
    meaning="silhouette of the true classes",
    in_table=True,
    order=90,
)
def _silhouette(run: RunContext) -> float:
    return run.clustering["silhouette"]


@register("silhouette_sample", needs_labels=True)  # a count: the rows the silhouette used
def _silhouette_sample(run: RunContext) -> float:
    return run.clustering["silhouette_sample"]  # an int, so scores.json keeps writing 50, not 50.0


# The probe after each stage: a depth profile, drawn in a figure rather than ranked.
for _depth in DEPTHS:
    register(f"probe_{_depth}", needs_labels=True)(methodcaller("probe", _depth))


@register(
    "probe_accuracy",
    needs_labels=True,
    heading="probe acc.",
    better=1,
    meaning="linear probe (logistic regression) test accuracy",
    in_table=True,
    order=10,
)
def _probe_accuracy(run: RunContext) -> float:
    return run.probe("embedding")
