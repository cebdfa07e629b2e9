"""Sampling plans: the exact batches of every epoch, fixed before any training.

A plan is saved as an artifact so that every experiment of a sampling trains on the same batches
and anyone can inspect what the encoders saw; indices refer to rows of the train split. Every
plan records its ``kind`` (the sampling that made it).

Adding a sampling: a module with its plan (and its training step in
:mod:`crl_pipelines.training.steps`), plus one entry in :data:`SAMPLINGS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from crl_pipelines.data import DataError, ImageDataset
from crl_pipelines.sampling import class_pairs, views
from crl_pipelines.validation import NonNegativeInt, PositiveInt, Settings


class PairsSettings(Settings):
    """The plans' settings (``pairs`` in the parameters), shared by every sampling."""

    epochs: PositiveInt = 10
    pairs_per_class: PositiveInt = 4  # class_pairs: pairs of every class in a batch
    batch_size: PositiveInt = 128  # view samplings: distinct images in a batch
    seed: NonNegativeInt = 0


PlanMaker = Callable[[ImageDataset, PairsSettings, Any], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Sampling:
    """One way of sampling training batches.

    ``make_plan(train, pairs, augment)`` makes the plan; ``check_plan(plan, train_labels)`` stops
    when a plan was made for another split; ``needs_labels``: only for labelled data.
    """

    make_plan: PlanMaker
    check_plan: Callable[[dict[str, np.ndarray], np.ndarray], None]
    needs_labels: bool
    description: str


def _class_pairs(train: ImageDataset, pairs: PairsSettings, augment: Any) -> dict:
    del augment  # class pairs are the images themselves, not augmented views
    if not train.labelled:
        return unavailable_plan("class_pairs", "the train split has no class labels")
    return class_pairs.make_plan(train, pairs.epochs, pairs.pairs_per_class, pairs.seed)


def _views(kind: str, train: ImageDataset, pairs: PairsSettings, augment: Any) -> dict:
    return views.make_plan(train, kind, pairs.epochs, pairs.batch_size, pairs.seed, augment)


SAMPLINGS: dict[str, Sampling] = {
    "class_pairs": Sampling(
        _class_pairs, class_pairs.check_plan, True, "one (anchor, positive) pair per class"
    ),
    "augmented_views": Sampling(
        partial(_views, "augmented_views"), views.check_plan, False, "two augmented views"
    ),
    "looc_views": Sampling(
        partial(_views, "looc_views"), views.check_plan, False, "LOOC's query and keys"
    ),
}


def unavailable_plan(kind: str, reason: str) -> dict[str, np.ndarray]:
    """A plan that says why this sampling cannot be used on the data (training refuses it)."""
    return {"kind": np.asarray(kind), "unavailable": np.asarray(reason)}


def plan_kind(plan: dict[str, np.ndarray]) -> str:
    """The sampling that made ``plan``."""
    if "kind" not in plan:
        raise DataError(
            "the sampling plan in data/04_feature records no sampling kind (it was made by an "
            "older version); re-run `kedro run --pipelines=pairs`"
        )
    return str(plan["kind"])


def check_plan_matches(plan: dict[str, np.ndarray], train_labels: np.ndarray) -> None:
    """Stop when the plan cannot be used with this train split, saying why."""
    kind = plan_kind(plan)
    if "unavailable" in plan:
        raise DataError(f"the {kind} sampling cannot be used here: {plan['unavailable']}")
    SAMPLINGS[kind].check_plan(plan, train_labels)


__all__ = [
    "SAMPLINGS",
    "PairsSettings",
    "Sampling",
    "check_plan_matches",
    "plan_kind",
    "unavailable_plan",
]
