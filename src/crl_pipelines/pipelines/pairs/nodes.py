"""Pairs: the sampling plans the experiments train on, one per sampling."""

from __future__ import annotations

import logging

import numpy as np

from crl_pipelines import lineage
from crl_pipelines.augment import AugmentSettings
from crl_pipelines.images import ImageDataset
from crl_pipelines.sampling import SAMPLINGS, PairsSettings

log = logging.getLogger(__name__)


def make_plan(
    train_set: dict[str, np.ndarray],
    *,
    sampling: str,
    pairs: PairsSettings,
    augment: AugmentSettings | None,
) -> dict[str, np.ndarray]:
    """The ``sampling`` plan of the train split (the view plans with the augmentations checked
    against the data's channels, so a bad setting stops before any training), with the split it
    was made from and its own fingerprint."""
    train = ImageDataset.from_arrays(train_set)
    plan = SAMPLINGS[sampling].make_plan(train, pairs, augment)
    if "unavailable" in plan:
        log.info("%s plan: not made (%s)", sampling, plan["unavailable"])
    else:
        epochs, steps, batch = plan["anchors"].shape
        log.info("%s plan: %d epochs × %d steps of %d", sampling, epochs, steps, batch)
    record = {
        "split": lineage.of_arrays(train_set).get("split", ""),
        "plan": lineage.fingerprint(*(plan[key] for key in sorted(plan))),
    }
    return {**plan, lineage.KEY: lineage.as_array(record)}
