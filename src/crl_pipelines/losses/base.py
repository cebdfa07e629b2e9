"""What every loss is (a torch module whose class states what the trainer must give it), the
registry :data:`LOSSES`, and how a loss is built from its name and parameters.

A loss's constructor arguments are its parameters (``loss_params`` in an experiment's entry),
typed with :mod:`crl_pipelines.parameters`'s types, so the run specification checks them
before anything runs. ``embedding_dim`` and ``num_classes``, when a constructor takes them, are
filled in by the trainer from the encoder and the data, never from the parameters.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar, Literal

from pydantic import create_model
from torch import nn

from crl_pipelines.parameters import Settings, parse
from crl_pipelines.registry import Registry

CONTEXT_ARGUMENTS = ("embedding_dim", "num_classes")


class Loss(nn.Module):
    """Base of the project's losses.

    Traits (class attributes):
        needs_labels: trained only on labelled data (the class labels enter the loss).
        views: what ``forward`` takes. ``"pairs"``: ``(anchors, positives, labels)``, B×D
            embeddings of two views whose row i is a positive pair; ``"looc"``:
            ``(embeddings, labels)`` with every LOOC view through every projection head,
            (heads, views, B, D), trained on the ``looc_views`` sampling.
        not_tuned: parameters the tuner leaves at their value by default (it searches every
            other parameter with a positive float default, ÷100 to ×10 on a log scale).
    """

    needs_labels: ClassVar[bool] = False
    views: ClassVar[Literal["pairs", "looc"]] = "pairs"
    not_tuned: ClassVar[tuple[str, ...]] = ()


LOSSES: Registry[type[Loss]] = Registry("loss")
"""Every loss by name: ``@LOSSES.register("<name>")`` on its class."""


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
    return parse(loss_settings(LOSSES[name]), params, where).model_dump()


def build_loss(
    name: str, params: dict[str, Any] | None, *, embedding_dim: int, num_classes: int
) -> Loss:
    """The loss called ``name`` with its (validated) parameters and the context it takes."""
    cls = LOSSES.lookup(name, "loss")
    settings = check_loss_params(name, params, f"{name}.loss_params")
    accepted = inspect.signature(cls.__init__).parameters
    context = {"embedding_dim": embedding_dim, "num_classes": num_classes}
    settings.update({key: value for key, value in context.items() if key in accepted})
    return cls(**settings)
