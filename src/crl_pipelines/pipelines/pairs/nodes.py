"""Pairs: the sampling plan every experiment trains on."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines.data import ImageDataset
from crl_pipelines.sampling import class_pair_plan

log = logging.getLogger(__name__)


def make_pair_plan(
    train_set: dict[str, np.ndarray], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The class-pair plan (one or more anchor/positive pairs per class in every batch)."""
    train = ImageDataset.from_arrays(train_set)
    plan = class_pair_plan(
        train.labels,
        train.class_names,
        epochs=int(params["epochs"]),
        pairs_per_class=int(params["pairs_per_class"]),
        seed=int(params["seed"]),
    )
    epochs, steps, batch = plan["anchors"].shape
    log.info("sampling plan: %d epochs × %d steps of %d pairs", epochs, steps, batch)
    return plan
