"""Robustness to corrupted inputs (MNIST-C, Mu & Gilmer 2019; CIFAR-10-C, Hendrycks & Dietterich
2019): the linear probe and the kNN vote, fitted on the clean train embeddings, on the test images
under every corruption at every severity. Each image's value is the share of its corrupted
copies classified right, so the intervals resample images as for the clean accuracies."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crl_pipelines.corruptions import CORRUPTIONS
from crl_pipelines.evaluation.context import RunContext, Skip
from crl_pipelines.evaluation.scores.base import SCORES, mean_of


def _per_image(
    classifier: str, corruption: str | None = None
) -> Callable[[RunContext], np.ndarray]:
    """Each test image's share of right answers over its corrupted copies (every corruption, or
    one), NaN for the images that were not corrupted."""

    def values(run: RunContext) -> np.ndarray:
        outcomes = run.corruption_outcomes[classifier]
        if corruption is not None and corruption not in run.corruption_names:
            raise Skip(f"{corruption} is not among embed.corruptions")
        if corruption is not None:
            outcomes = outcomes[run.corruption_names.index(corruption)][None]
        return outcomes.mean(axis=(0, 1))

    return values


for _classifier, _heading, _order in (("probe", "corr. probe acc.", 13), ("knn", "corr. kNN", 27)):
    SCORES.register(
        f"corruption_{_classifier}_accuracy",
        needs_labels=True,
        heading=_heading,
        better=1,
        meaning=f"mean {_classifier} accuracy over every corruption and severity (test images "
        "corrupted; fitted on clean train embeddings)",
        in_table=True,
        order=_order,
        per_image=_per_image(_classifier),
    )(mean_of(_per_image(_classifier)))

MEAN_CORRUPTION = "corruption_probe_accuracy"
PER_CORRUPTION = [f"corruption_{name}" for name in CORRUPTIONS]
"""The report's corruption table: the mean, and each corruption's probe accuracy."""

# Each corruption's probe accuracy over its five severities: the report's corruption table.
for _name in CORRUPTIONS:
    SCORES.register(
        f"corruption_{_name}",
        needs_labels=True,
        heading=f"{_name.replace('_', ' ')}",
        meaning=f"probe accuracy under {_name.replace('_', ' ')}, mean of severities 1 to 5",
        order=900,
        per_image=_per_image("probe", _name),
    )(mean_of(_per_image("probe", _name)))
