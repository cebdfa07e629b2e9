"""Pairs: the sampling plans the experiments train on (one per sampling in use)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines.augment import AugmentConfig
from crl_pipelines.data import ImageDataset
from crl_pipelines.sampling import class_pair_plan, view_plan

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
    log.info("class-pair plan: %d epochs × %d steps of %d pairs", epochs, steps, batch)
    return plan


def make_view_plan(
    train_set: dict[str, np.ndarray],
    params: dict[str, Any],
    augment_params: dict[str, Any],
    kind: str,
) -> dict[str, np.ndarray]:
    """A self-supervised plan: batches of distinct images and the augmentations of their views
    (checked here against the data's channels, so a bad setting stops before any training)."""
    train = ImageDataset.from_arrays(train_set)
    protected = int(train.provenance.get("randbits_channels", 0))
    config = AugmentConfig.from_params(augment_params, channels=train.images.shape[1] - protected)
    plan = view_plan(
        len(train.labels),
        epochs=int(params["epochs"]),
        batch_size=int(params["batch_size"]),
        seed=int(params["seed"]),
        kind=kind,
        augment_params=config.to_params(),
    )
    epochs, steps, batch = plan["anchors"].shape
    log.info(
        "%s plan: %d epochs × %d steps of %d images; augmentations %s",
        kind, epochs, steps, batch, ", ".join(config.enabled) or "none",
    )  # fmt: skip
    return plan
