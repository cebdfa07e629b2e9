"""What the self-supervised plans share (:mod:`.augmented_views`, :mod:`.looc_views`): batches of
distinct images whose augmented views the trainer draws.

The views of step (epoch, step) come from a generator seeded with (seed, epoch, step), and the
augmentation settings are stored in the plan, so the plan alone fixes every view.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from crl_pipelines.augment import AugmentConfig, AugmentSettings
from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.sampling.base import PairsSettings


def view_plan(
    num_images: int,
    epochs: int,
    batch_size: int,
    seed: int,
    kind: str,
    augment_params: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Every batch holds ``batch_size`` distinct images (each epoch a fresh permutation)."""
    if epochs < 1:
        raise DataError(f"pairs.epochs must be at least 1, got {epochs}")
    if not 2 <= batch_size <= num_images:
        raise DataError(
            f"pairs.batch_size must lie in 2..{num_images} (the train images), got {batch_size}"
        )
    rng = np.random.default_rng(seed)
    steps = num_images // batch_size
    order = rng.permuted(np.tile(np.arange(num_images), (epochs, 1)), axis=1)
    return {
        "kind": np.asarray(kind),
        "anchors": order[:, : steps * batch_size].reshape(epochs, steps, batch_size),
        "seed": np.asarray(seed),
        "augment": np.asarray(json.dumps(augment_params, sort_keys=True)),
    }


def make_view_plan(
    kind: str,
    train: ImageDataset,
    pairs: PairsSettings,
    augment: AugmentSettings | dict[str, Any] | None,
) -> dict[str, np.ndarray]:
    """The ``kind`` plan of the train split; the augmentations (None: the defaults for the
    channels) are checked against its channels, RandBits excluded, before they are stored."""
    channels = train.images.shape[1] - train.protected_channels
    config = AugmentConfig.from_params(augment, channels=channels)
    return view_plan(
        len(train.labels), pairs.epochs, pairs.batch_size, pairs.seed, kind, config.to_params()
    )


def plan_augmentations(plan: dict[str, np.ndarray], channels: int) -> AugmentConfig:
    """The augmentations a view plan stores, for images with ``channels`` augmentable channels."""
    return AugmentConfig.from_params(json.loads(str(plan["augment"])), channels=channels)


def check_plan(plan: dict[str, np.ndarray], train_labels: np.ndarray) -> None:
    """Stop when the plan indexes images the train split does not have."""
    if int(plan["anchors"].max()) >= len(train_labels):
        raise DataError(
            "the sampling plan in data/04_feature indexes more images than the train split "
            "holds; re-run `kedro run --pipelines=pairs` after ingest"
        )
