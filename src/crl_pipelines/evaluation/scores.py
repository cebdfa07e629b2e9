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
    (k-means → ARI/NMI/AMI, retrieval → P@1/MAP@R) pay for it once. :meth:`resampled` gives the
    same run on a bootstrap resample of its test images (``rows``, repeats allowed): what was
    fitted on the train embeddings (probes, kNN, k-means, PCA) and each test image's own outcome
    are shared with the full run; everything else is recomputed on the resampled rows, pairs of
    copies of one image excluded.
    """

    def __init__(
        self,
        embeddings: dict[str, np.ndarray],
        config: ScoringSettings,
        rows: np.ndarray | None = None,
        root: RunContext | None = None,
    ) -> None:
        self.embeddings, self.config = embeddings, config
        self.root, self.rows = root or self, rows
        self.train_x, self.test_x = embeddings["train_embedding"], self.test("embedding")
        self.train_y = embeddings.get("train_labels")
        test_y = embeddings.get("test_labels")
        self.test_y = test_y if test_y is None or rows is None else test_y[rows]
        self.labelled = bool(
            self.train_y is not None and test_y is not None and (test_y >= 0).all()
        )
        self._probes: dict[str, np.ndarray] = {}
        self._probe_train_accuracy: dict[str, float] = {}

    def test(self, feature: str) -> np.ndarray:
        """The test rows' ``feature`` (``embedding`` or a stage)."""
        values = self.embeddings[f"test_{feature}"]
        return values if self.rows is None else values[self.rows]

    def resampled(self, rows: np.ndarray) -> RunContext:
        """This run on the test rows ``rows`` of the full run (a bootstrap resample)."""
        return RunContext(self.embeddings, self.config, rows, self.root)

    def per_image(self, values: np.ndarray) -> np.ndarray:
        """One value per test row, from one per test image of the full run."""
        return values if self.rows is None else values[self.rows]

    @cached_property
    def num_classes(self) -> int:
        return int(max(self.train_y.max(), self.embeddings["test_labels"].max())) + 1

    @cached_property
    def counts(self) -> np.ndarray | None:
        """How many times these rows draw each test image of the full run (None: the full run),
        for scores that weigh the full run's rows instead of copying them."""
        return (
            None if self.rows is None else np.bincount(self.rows, minlength=len(self.root.test_x))
        )

    @cached_property
    def moments(self) -> metrics.Moments:
        """The test rows' mean and covariance: what the correlation, VIF, PCA and rank scores
        share."""
        return metrics.moments(self.root.test_x, self.counts)

    @cached_property
    def correlation(self) -> np.ndarray:
        return metrics.correlation_matrix(self.moments)

    @cached_property
    def vif(self) -> np.ndarray:
        return metrics.variance_inflation_factors(self.moments)

    @cached_property
    def pca_model(self) -> Any:
        """PCA fitted on the train embeddings (once, for the full run and its resamples)."""
        if self.root is not self:
            return self.root.pca_model
        from sklearn.decomposition import PCA

        return PCA().fit(self.train_x)

    @cached_property
    def pca_explained(self) -> np.ndarray:
        """The share of the test variance on the first k train components, k = 1, 2, …"""
        return metrics.pca_explained(self.moments, self.pca_model.components_)

    @cached_property
    def spread(self) -> float:
        return metrics.collapse_statistic(self.root.test_x, self.counts)

    @cached_property
    def tsne(self) -> tuple[np.ndarray, np.ndarray]:
        """(2-D points, sampled test rows)."""
        return metrics.tsne_projection(self.test_x, self.config.tsne_sample, self.config.seed)

    @cached_property
    def class_distances(self) -> np.ndarray:
        if self.rows is None:
            block = self.config.distance_block_size
            return metrics.class_distance_matrix(self.test_x, self.test_y, self.num_classes, block)
        return self.root.resampled_class_distances(self.rows[None])[0]

    def resampled_class_distances(self, rows: np.ndarray) -> np.ndarray:
        """The class distance matrix of every resample of ``rows`` (B × m) at once."""
        weights = metrics.resample_weights(rows, len(self.test_x))
        return metrics.resampled_class_distances(
            self.test_x, self.test_y, self.num_classes, weights, self.config.distance_block_size
        )

    @cached_property
    def retrieval_outcomes(self) -> dict[str, np.ndarray]:
        """Each test image's retrieval outcome among the full run's test images."""
        if self.root is not self:
            return self.root.retrieval_outcomes
        return metrics.retrieval_per_query(self.test_x, self.test_y)

    @cached_property
    def retrieval(self) -> dict[str, float]:
        hits = self.per_image(self.retrieval_outcomes["hit_at_1"])
        average_precision = self.per_image(self.retrieval_outcomes["average_precision"])
        valid = ~np.isnan(average_precision)
        return {
            "precision_at_1": float(hits.mean()),
            "map_at_r": float(average_precision[valid].mean()) if valid.any() else math.nan,
        }

    @cached_property
    def clusters(self) -> np.ndarray:
        """Each test image's k-means cluster (k-means fitted on the train embeddings)."""
        if self.root is not self:
            return self.root.clusters
        return metrics.kmeans_clusters(
            self.train_x, self.test_x, self.num_classes, self.config.seed
        )

    @cached_property
    def clustering(self) -> dict[str, float]:
        """ARI, NMI and AMI of the k-means clusters against the classes, on these test rows."""
        return metrics.cluster_agreement(self.test_y, self.per_image(self.clusters))

    @cached_property
    def silhouette_values(self) -> np.ndarray:
        """Each test image's silhouette within a seeded sample of at most ``silhouette_sample``
        rows (NaN outside it; the sample scikit-learn's ``silhouette_score`` draws with this
        ``random_state``). The score and each of its resamples average these."""
        if self.root is not self:
            return self.root.silhouette_values
        from sklearn.metrics import silhouette_samples

        sample = min(self.config.silhouette_sample, len(self.test_x))
        chosen = np.random.RandomState(self.config.seed).permutation(len(self.test_x))[:sample]
        values = np.full(len(self.test_x), math.nan)
        if len(np.unique(self.test_y[chosen])) > 1:
            values[chosen] = silhouette_samples(self.test_x[chosen], self.test_y[chosen])
        return values

    @cached_property
    def knn_correct(self) -> np.ndarray:
        """Whether the kNN vote is right, per test image of the full run."""
        if self.root is not self:
            return self.root.knn_correct
        config = self.config
        predicted = metrics.knn_predictions(
            self.train_x, self.train_y, self.test_x, config.knn_k,
            config.distance_block_size, self.num_classes,
        )  # fmt: skip
        return predicted == self.test_y

    def probe_correct(self, depth: str) -> np.ndarray:
        """Whether the linear probe after ``depth`` is right, per test image of the full run
        (fitted once per depth)."""
        if self.root is not self:
            return self.root.probe_correct(depth)
        if depth not in self._probes:
            train = self.embeddings.get(f"train_{depth}")
            if train is None:
                raise Skip("features not extracted")
            probe = metrics.fit_linear_probe(train, self.train_y, self.config.probe_max_iter)
            self._probes[depth] = probe.predict(self.test(depth)) == self.test_y
            fitted = probe.predict(train) == self.train_y
            self._probe_train_accuracy[depth] = float(fitted.mean())
        return self._probes[depth]

    def probe_train_accuracy(self, depth: str) -> float:
        """Accuracy of the linear probe after ``depth`` on the train embeddings it was fitted on."""
        if self.root is not self:
            return self.root.probe_train_accuracy(depth)
        self.probe_correct(depth)
        return self._probe_train_accuracy[depth]

    def digit_probe_correct(self, position: int) -> np.ndarray:
        """Whether a linear probe on the embedding gets the class of digit ``position`` right
        (MultiDigit data: every image's digits are labelled), per test image of the full run."""
        if self.root is not self:
            return self.root.digit_probe_correct(position)
        key = f"digit{position}"
        if key not in self._probes:
            train = self.embeddings.get("train_extra__digit_labels")
            if train is None or train.ndim != 2:
                raise Skip("no per-digit labels (not MultiDigit data)")
            if position >= train.shape[1]:
                raise Skip(f"the images have {train.shape[1]} digits")
            test = self.embeddings["test_extra__digit_labels"][:, position]
            predicted = metrics.linear_probe_predictions(
                self.train_x, train[:, position], self.test_x, self.config.probe_max_iter
            )
            self._probes[key] = predicted == test
        return self._probes[key]

    def probe(self, depth: str) -> float:
        """Linear-probe test accuracy of the pooled features after ``depth``."""
        return float(self.per_image(self.probe_correct(depth)).mean())

    def arrays(self) -> dict[str, np.ndarray]:
        """What the figures draw (the class distances only when there are labels)."""
        arrays = {
            "correlation": self.correlation,
            "vif": self.vif,
            "pca_explained": self.pca_explained,
            "pca_projection": metrics.pca_projection(self.test_x, self.pca_model),
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
KINDS = ("score", "count", "flag")


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
    # "score": a measurement (compared, in metrics.json); "count": how many rows a score used;
    # "flag": 1 or 0 (e.g. collapsed). Counts and flags are shown beside each run, never scored
    # (a count has no heading: the battery resamples only scores with one, see battery.py).
    kind: str = "score"
    # the score as a mean of one value per test image (right/wrong, or NaN where undefined), for
    # exact bootstrap resamples and McNemar's test (crl_pipelines.evaluation.uncertainty)
    per_image: Callable[[RunContext], np.ndarray] | None = None
    # the score on every bootstrap resample at once, from the full run and the resamples' rows
    # (B × N): for pairwise scores, whose pairs are formed once instead of once per resample
    batched: Callable[[RunContext, np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if (self.better or self.in_table) and not self.heading:
            raise ValueError("a ranked score or a table column needs a heading")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind != "score" and (self.better or self.in_table):
            raise ValueError("a count or a flag is neither ranked nor a column of the score table")


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
    explained = run.pca_explained
    return float(explained[min(1, len(explained) - 1)])


@register(
    "mean_vif",
    needs_labels=False,
    heading="mean VIF",
    better=-1,
    meaning="mean variance inflation factor (finite ones)",
    in_table=True,
    order=140,
    fmt=".1f",
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
    fmt="d",
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


def _uniformities(run: RunContext, rows: np.ndarray) -> np.ndarray:
    weights = metrics.resample_weights(rows, len(run.test_x))
    t, block = run.config.uniformity_t, run.config.distance_block_size
    return metrics.resampled_uniformity(run.test_x, weights, t, block)


@register(
    "uniformity",
    needs_labels=False,
    heading="uniformity",
    better=-1,
    meaning="log E exp(−2‖f(x)−f(y)‖²) over all pairs (normalized)",
    in_table=True,
    order=110,
    batched=_uniformities,
)
def _uniformity(run: RunContext) -> float:
    if run.rows is not None:
        return float(_uniformities(run.root, run.rows[None])[0])
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
    return metrics.effective_rank(run.moments)


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
    meaning="1 when the spread is below the threshold",
    order=180,
    fmt="d",
    kind="flag",
)
def _collapsed(run: RunContext) -> float:
    return float(run.spread < run.config.collapse_threshold)


@register(
    "tsne_sample",
    needs_labels=False,
    meaning="test rows the t-SNE figure shows",
    fmt="d",
    kind="count",
)
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
    batched=lambda run, rows: np.array(
        [metrics.class_separation(matrix) for matrix in run.resampled_class_distances(rows)]
    ),
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
    return metrics.alignment(run.root.test_x, run.root.test_y, run.counts)


@register(
    "knn_accuracy",
    needs_labels=True,
    heading="kNN acc.",
    better=1,
    meaning="k-nearest-neighbour (cosine) test accuracy",
    in_table=True,
    order=20,
    per_image=lambda run: run.knn_correct,
)
def _knn_accuracy(run: RunContext) -> float:
    return float(run.per_image(run.knn_correct).mean())


@register(
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


@register(
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
    per_image=lambda run: run.silhouette_values,
)
def _silhouette(run: RunContext) -> float:
    values = run.per_image(run.silhouette_values)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan


@register(
    "silhouette_sample",
    needs_labels=True,
    meaning="test rows the silhouette used",
    fmt="d",
    kind="count",
)
def _silhouette_sample(run: RunContext) -> float:
    return min(run.config.silhouette_sample, len(run.root.test_x))  # an int: scores.json writes 50


# The probe after each stage: a depth profile, drawn in a figure rather than ranked.
for _depth in DEPTHS:
    register(f"probe_{_depth}", needs_labels=True)(methodcaller("probe", _depth))


def _digit_probe(position: int) -> ScoreFunction:
    def compute(run: RunContext) -> float:
        return float(run.per_image(run.digit_probe_correct(position)).mean())

    return compute


# The probe on each digit position's class (MultiDigit): a study draws it against digit size.
for _position in range(4):
    register(
        f"probe_digit_{_position}",
        needs_labels=True,
        heading=f"digit {_position + 1} probe",
        better=1,
        meaning=f"linear probe accuracy on the class of digit {_position + 1} (MultiDigit)",
        order=15,
        per_image=lambda run, position=_position: run.digit_probe_correct(position),
    )(_digit_probe(_position))


@register(
    "probe_accuracy",
    needs_labels=True,
    heading="probe acc.",
    better=1,
    meaning="linear probe (logistic regression) test accuracy",
    in_table=True,
    order=10,
    per_image=lambda run: run.probe_correct("embedding"),
)
def _probe_accuracy(run: RunContext) -> float:
    return run.probe("embedding")


@register(
    "probe_train_accuracy",
    needs_labels=True,
    heading="probe train acc.",
    meaning="the linear probe's accuracy on the train embeddings it was fitted on",
    order=11,
)
def _probe_train_accuracy(run: RunContext) -> float:
    return run.probe_train_accuracy("embedding")


def _probe_gap_per_image(run: RunContext) -> np.ndarray:
    return run.probe_train_accuracy("embedding") - run.probe_correct("embedding")


@register(
    "probe_gap",
    needs_labels=True,
    heading="probe gap",
    meaning="probe train − test accuracy: the fit that does not carry to new images",
    in_table=True,
    order=12,
    per_image=_probe_gap_per_image,
)
def _probe_gap(run: RunContext) -> float:
    return float(run.per_image(_probe_gap_per_image(run)).mean())
