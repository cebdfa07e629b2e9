"""``looc_views`` (LOOC, Xiao et al., "What Should Not Be Contrastive in Contrastive Learning",
ICLR 2021): batches of distinct images; the trainer draws the query q and key k0 independently
and, per augmentation i, a key k_i that shares q's parameters for i and draws the others afresh."""

from __future__ import annotations

from typing import Any

import numpy as np

from crl_pipelines.images import ImageDataset
from crl_pipelines.sampling.base import SAMPLINGS, PairsSettings
from crl_pipelines.sampling.views import check_plan, make_view_plan

KIND = "looc_views"


@SAMPLINGS.register(
    KIND,
    check_plan=check_plan,
    needs_labels=False,
    loss_views="looc",
    step="crl_pipelines.training.steps.looc_views:LOOCViewsStep",
    description="LOOC's query and keys",
)
def make_plan(train: ImageDataset, pairs: PairsSettings, augment: Any) -> dict[str, np.ndarray]:
    """The plan of ``pairs.batch_size`` distinct images a batch, with the augmentations stored."""
    return make_view_plan(KIND, train, pairs, augment)
