"""How encoders are scored (``evaluate`` in the parameters): the battery's settings and the
comparison's."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

from crl_pipelines.lineage import fingerprint
from crl_pipelines.parameters import (
    NonNegative,
    NonNegativeInt,
    OpenFraction,
    ParameterError,
    Positive,
    PositiveInt,
    Settings,
)

AtLeastTwo = Annotated[int, Strict(), Field(ge=2)]


class ScoringSettings(Settings):
    """Settings of the battery (``evaluate`` in the parameters)."""

    probe_max_iter: PositiveInt = 2000  # logistic-regression iterations of the linear probes
    distance_block_size: PositiveInt = 2048  # rows per block of pairwise distances
    knn_k: PositiveInt = 20  # neighbours of the cosine kNN classifier (majority vote)
    protocol_knn_k: PositiveInt = 200  # the self-supervised kNN protocol's neighbours
    protocol_knn_temperature: Positive = 0.1  # its votes weigh exp(similarity / temperature)
    uniformity_t: Positive = 2.0  # t of log E exp(−t‖f(x)−f(y)‖²)
    silhouette_sample: AtLeastTwo = 2000  # test rows the silhouette is computed on
    tsne_sample: AtLeastTwo = 1000  # test rows in the t-SNE scatter
    collapse_threshold: NonNegative = 0.1  # spread below which a run is flagged collapsed
    seed: NonNegativeInt = 0  # k-means, silhouette, t-SNE and bootstrap sampling
    bootstrap_resamples: NonNegativeInt = 500  # test-image resamples behind each interval; 0: none
    confidence: OpenFraction = 0.95  # of the intervals
    significance: OpenFraction = 0.05  # the Holm-adjusted p below which two experiments differ

    def check_train_size(self, images: int) -> None:
        """``knn_k`` is below the ``images`` of the train split: at or above it, every test
        image gets the same neighbours, the vote is the biggest class's and a small class can
        never win (the protocol kNN's k is a convention, capped at the split and counted)."""
        if self.knn_k >= images:
            raise ParameterError(
                f"parameter `evaluate.knn_k` is {self.knn_k}, but the train split has {images} "
                f"images: every test image would get the same neighbours; use fewer (the "
                "default is 20)"
            )

    def battery_fingerprint(self) -> str:
        """What a run's scores are made from besides its embeddings (their lineage's
        ``scoring``): every setting the battery reads; not ``confidence`` and ``significance``,
        which only the comparison reads."""
        return fingerprint(self.model_dump(mode="json", exclude={"confidence", "significance"}))
