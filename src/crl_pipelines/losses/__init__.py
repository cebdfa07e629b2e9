"""Losses, one per module, each a :class:`~crl_pipelines.losses.base.Loss` whose class states its
traits (``needs_labels``, ``views``) and whose typed constructor arguments are its parameters.

Adding a loss: write its module (the paper in the docstring, a reference test beside the others)
and add one entry to :data:`LOSSES`. Build one by name with :func:`build_loss`.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from pydantic import create_model

from crl_pipelines.losses.align_uniform import AlignUniformLoss
from crl_pipelines.losses.base import CONTEXT_ARGUMENTS, Loss
from crl_pipelines.losses.contrastive import ContrastivePairLoss
from crl_pipelines.losses.cross_entropy import CrossEntropyLoss
from crl_pipelines.losses.generalized import (
    LSEHypersphereLoss,
    SWDGaussianLoss,
    SWDHypercubeLoss,
    SWDHypersphereLoss,
)
from crl_pipelines.losses.looc import LOOCLoss
from crl_pipelines.losses.ntxent import NTXentLoss
from crl_pipelines.losses.supcon import SupConLoss
from crl_pipelines.losses.triplet import TripletLoss
from crl_pipelines.validation import ParameterError, Settings, parse

LOSSES: dict[str, type[Loss]] = {
    "contrastive": ContrastivePairLoss,
    "triplet": TripletLoss,
    "ntxent": NTXentLoss,
    "cross_entropy": CrossEntropyLoss,
    "align_uniform": AlignUniformLoss,
    "lse_hypersphere": LSEHypersphereLoss,
    "swd_hypersphere": SWDHypersphereLoss,
    "swd_hypercube": SWDHypercubeLoss,
    "swd_gaussian": SWDGaussianLoss,
    "supcon": SupConLoss,
    "looc": LOOCLoss,
}


def loss_class(name: str) -> type[Loss]:
    """The loss registered as ``name``; a :class:`ParameterError` listing the known ones if none."""
    if name not in LOSSES:
        raise ParameterError(f"unknown loss {name!r}; known losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


@functools.cache
def loss_settings(cls: type[Loss]) -> type[Settings]:
    """The settings model of a loss's parameters, read from its constructor's signature."""
    fields = {
        name: (parameter.annotation, parameter.default)
        for name, parameter in inspect.signature(cls.__init__, eval_str=True).parameters.items()
        if name != "self" and name not in CONTEXT_ARGUMENTS
    }
    return create_model(f"{cls.__name__}Settings", __base__=Settings, **fields)


def check_loss_params(name: str, params: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """The loss ``name``'s parameters, validated (defaults filled in); errors name ``where``."""
    return parse(loss_settings(loss_class(name)), params, where).model_dump()


def build_loss(
    name: str, params: dict[str, Any] | None, *, embedding_dim: int, num_classes: int
) -> Loss:
    """The loss called ``name`` with its (validated) parameters and the context it takes."""
    cls = loss_class(name)
    settings = check_loss_params(name, params, f"{name}.loss_params")
    accepted = inspect.signature(cls.__init__).parameters
    context = {"embedding_dim": embedding_dim, "num_classes": num_classes}
    settings.update({key: value for key, value in context.items() if key in accepted})
    return cls(**settings)


__all__ = [
    "LOSSES",
    "AlignUniformLoss",
    "ContrastivePairLoss",
    "CrossEntropyLoss",
    "LOOCLoss",
    "LSEHypersphereLoss",
    "Loss",
    "NTXentLoss",
    "SWDGaussianLoss",
    "SWDHypercubeLoss",
    "SWDHypersphereLoss",
    "SupConLoss",
    "TripletLoss",
    "build_loss",
    "check_loss_params",
    "loss_class",
    "loss_settings",
]
