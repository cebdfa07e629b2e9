"""Losses, one per module, with the signature ``loss(anchors, positives, labels) -> scalar``.

``anchors`` and ``positives`` are B×D embeddings of the two views (row i of each is a similar
pair); ``labels`` are the B class indices. The exception is ``looc`` (``views = "looc"``), which
takes every LOOC view through every projection head. Build one by name with :func:`build_loss`.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from crl_pipelines.losses.align_uniform import AlignUniformLoss
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

LOSSES: dict[str, type[nn.Module]] = {
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
# Filled in by the trainer from the encoder and the data, never from the experiment's parameters.
_CONTEXT_ARGUMENTS = ("embedding_dim", "num_classes")
USES_LABELS = {"contrastive", "triplet", "cross_entropy", "supcon"}


def build_loss(
    name: str, params: dict[str, Any] | None, *, embedding_dim: int, num_classes: int
) -> nn.Module:
    """The loss called ``name`` with its parameters; unknown names or parameters are named."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known losses: {sorted(LOSSES)}")
    cls = LOSSES[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    params = dict(params or {})
    unknown = set(params) - (accepted - set(_CONTEXT_ARGUMENTS))
    if unknown:
        settable = sorted(accepted - set(_CONTEXT_ARGUMENTS))
        raise ValueError(
            f"loss {name!r} has no parameter(s) {sorted(unknown)}; it takes {settable}"
        )
    context = {"embedding_dim": embedding_dim, "num_classes": num_classes}
    params.update({key: value for key, value in context.items() if key in accepted})
    return cls(**params)


__all__ = [
    "LOSSES",
    "USES_LABELS",
    "AlignUniformLoss",
    "ContrastivePairLoss",
    "CrossEntropyLoss",
    "LOOCLoss",
    "LSEHypersphereLoss",
    "NTXentLoss",
    "SWDGaussianLoss",
    "SWDHypercubeLoss",
    "SWDHypersphereLoss",
    "SupConLoss",
    "TripletLoss",
    "build_loss",
]
