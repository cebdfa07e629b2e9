"""What every sampling is, and the registry :data:`SAMPLINGS`.

A sampling makes a *plan*, the exact batches of every epoch, fixed before any training and saved
as an artifact, so that every experiment of a sampling trains on the same batches and anyone can
inspect what the encoders saw (indices refer to rows of the train split; every plan records its
``kind``, the sampling that made it). Its training step, which turns a batch of the plan into a
loss, is named in the same registration.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.parameters import NonNegativeInt, PositiveInt, Settings
from crl_pipelines.registry import Registry


class PairsSettings(Settings):
    """The plans' settings (``pairs`` in the parameters), shared by every sampling."""

    epochs: PositiveInt = 10
    pairs_per_class: PositiveInt = 4  # class_pairs: pairs of every class in a batch
    batch_size: PositiveInt = 128  # view samplings: distinct images in a batch
    seed: NonNegativeInt = 0


PlanMaker = Callable[[ImageDataset, PairsSettings, Any], dict[str, np.ndarray]]
PlanCheck = Callable[[dict[str, np.ndarray], np.ndarray], None]


@dataclass(frozen=True)
class Sampling:
    """One way of sampling training batches.

    Attributes:
        make_plan: ``make_plan(train, pairs, augment)``, the plan of the train split.
        check_plan: ``check_plan(plan, train_labels)`` stops when a plan was made for another
            split.
        needs_labels: only for labelled data.
        loss_views: what its step feeds a loss, the loss trait it must match
            (:attr:`crl_pipelines.losses.base.Loss.views`).
        step: ``module:Class`` of its training step (:mod:`crl_pipelines.training.steps`),
            imported only when a run trains, so making plans never loads the training code.
        description: one line, for the report and messages.
    """

    make_plan: PlanMaker
    check_plan: PlanCheck
    needs_labels: bool
    loss_views: Literal["pairs", "looc"]
    step: str
    description: str

    def step_class(self) -> type:
        """The class of its training step."""
        module, _, name = self.step.partition(":")
        return getattr(importlib.import_module(module), name)


def _sampling(make_plan: PlanMaker, **traits: Any) -> Sampling:
    return Sampling(make_plan, **traits)


SAMPLINGS: Registry[Sampling] = Registry("sampling", _sampling)
"""Every sampling by name: ``@SAMPLINGS.register("<name>", check_plan=..., needs_labels=...,
loss_views=..., step="<module>:<Step>", description=...)`` on its plan maker."""


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
