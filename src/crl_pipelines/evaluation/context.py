"""One run's embeddings and settings as the scores read them (:class:`RunContext`), with the
intermediates that several scores share, each computed once, on first use: the k-means fit, the
class distance matrix, the covariance moments, the PCA, the retrieval neighbours, the probes.

:meth:`RunContext.resampled` gives the same run on a bootstrap resample of its test images.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property
from typing import Any

import numpy as np

from crl_pipelines.corruptions.base import SEVERITIES
from crl_pipelines.encoder_settings import STAGES
from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.settings import ScoringSettings

DEPTHS = (*STAGES, "embedding")
"""Where the linear probe is fitted: after every stage of the backbone, and on the embedding."""


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
        self._probe_predictions: dict[str, np.ndarray] = {}
        self._probe_models: dict[str, Any] = {}
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

    @cached_property
    def weighted_knn_correct(self) -> np.ndarray:
        """Whether the protocol kNN (k = ``protocol_knn_k``, votes weighted exp(s/τ)) is right,
        per test image of the full run."""
        if self.root is not self:
            return self.root.weighted_knn_correct
        config = self.config
        predicted = metrics.weighted_knn_predictions(
            self.train_x, self.train_y, self.test_x, config.protocol_knn_k,
            config.protocol_knn_temperature, config.distance_block_size, self.num_classes,
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
            self._probe_models[depth] = probe
            self._probe_predictions[depth] = probe.predict(self.test(depth))
            self._probes[depth] = self._probe_predictions[depth] == self.test_y
            fitted = probe.predict(train) == self.train_y
            self._probe_train_accuracy[depth] = float(fitted.mean())
        return self._probes[depth]

    @cached_property
    def corruption_outcomes(self) -> dict[str, np.ndarray]:
        """Per classifier fitted on the clean train embeddings (``probe``: the linear probe on
        the embedding; ``knn``: the kNN vote), whether it is right on each corrupted copy of each
        test image: corruptions × severities × test images of the full run (NaN for the images
        outside the corrupted sample)."""
        root = self.root
        if root is not self:
            return root.corruption_outcomes
        names = self.corruption_names
        rows = self.embeddings["corruption_rows"]
        root.probe_correct("embedding")
        probe, config = root._probe_models["embedding"], self.config
        shape = (len(names), len(SEVERITIES), len(self.test_x))
        out = {"probe": np.full(shape, np.nan), "knn": np.full(shape, np.nan)}
        truth = self.test_y[rows]
        for (i, name), (j, severity) in itertools.product(enumerate(names), enumerate(SEVERITIES)):
            features = self.embeddings[f"corrupt__{name}__{severity}"]
            out["probe"][i, j, rows] = probe.predict(features) == truth
            out["knn"][i, j, rows] = metrics.knn_predictions(
                self.train_x, self.train_y, features, config.knn_k,
                config.distance_block_size, self.num_classes,
            ) == truth  # fmt: skip
        return out

    @cached_property
    def corruption_names(self) -> list[str]:
        """The corruptions whose test embeddings this run has (none: :class:`Skip`)."""
        if "corruption_rows" not in self.embeddings:
            raise Skip("no corrupted test embeddings (embed.corruption_images is 0)")
        found = [key.split("__")[1] for key in self.embeddings if key.startswith("corrupt__")]
        return list(dict.fromkeys(found))

    @cached_property
    def confusion(self) -> np.ndarray:
        """Of the full run's test images of each class (a row), how many the linear probe on the
        embedding puts in each class (a column)."""
        root = self.root
        root.probe_correct("embedding")
        table = np.zeros((root.num_classes, root.num_classes), dtype=np.int64)
        np.add.at(table, (root.test_y, root._probe_predictions["embedding"]), 1)
        return table

    @cached_property
    def swept_probe(self) -> tuple[np.ndarray, float]:
        """The swept probe on the embedding (:func:`metrics.swept_linear_probe`): whether it is
        right, per test image of the full run, and the L2 strength the validation split chose."""
        if self.root is not self:
            return self.root.swept_probe
        validation_x = self.embeddings.get("validation_embedding")
        validation_y = self.embeddings.get("validation_labels")
        if validation_x is None or validation_y is None or len(validation_x) == 0:
            raise Skip("no validation embeddings (ingest.validation_fraction is 0)")
        probe, strength = metrics.swept_linear_probe(
            self.train_x, self.train_y, validation_x, validation_y, self.config.probe_max_iter
        )
        return probe.predict(self.test_x) == self.test_y, strength

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
            arrays["confusion"] = self.confusion
        if self.labelled and "corruption_rows" in self.embeddings:
            arrays["corruption_names"] = np.asarray(self.corruption_names, dtype=str)
            clean = self.probe_correct("embedding")[self.embeddings["corruption_rows"]]
            arrays["corruption_clean"] = np.asarray(clean.mean())  # the same images, clean
            for classifier, outcomes in self.corruption_outcomes.items():
                arrays[f"corruption_{classifier}"] = np.nanmean(outcomes, axis=2)
            arrays["between_class_distances"] = metrics.normalized_between_class_distances(
                self.class_distances
            )
        return arrays
