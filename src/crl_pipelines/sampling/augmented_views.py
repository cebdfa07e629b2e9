"""``augmented_views`` (SimCLR): batches of distinct images, two independently augmented views of
each drawn by the trainer (Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020)."""

from __future__ import annotations

from typing import Any

import numpy as np

from crl_pipelines.images import ImageDataset
from crl_pipelines.sampling.base import SAMPLINGS, PairsSettings
from crl_pipelines.sampling.views import check_plan, make_view_plan

KIND = "augmented_views"


@SAMPLINGS.register(
    KIND,
    check_plan=check_plan,
    needs_labels=False,
    loss_views="pairs",
    step="crl_pipelines.training.steps.augmented_views:AugmentedViewsStep",
    description="two augmented views",
)
def make_plan(train: ImageDataset, pairs: PairsSettings, augment: Any) -> dict[str, np.ndarray]:
    """The plan of ``pairs.batch_size`` distinct images a batch, with the augmentations stored."""
    return make_view_plan(KIND, train, pairs, augment)
