"""Losses, one per module, each a :class:`~crl_pipelines.losses.base.Loss` registered by name
beside its class (``@LOSSES.register("ntxent")``), whose class states its traits
(``needs_labels``, ``views``) and whose typed constructor arguments are its parameters.

Adding a loss: write its module (the paper in the docstring, the decorator on the class, a
reference test beside the others) and add it to the list below, which is the registry's order.
Build one by name with :func:`build_loss`.
"""

# The registry's order: each module registers what it defines when it is imported.
# isort: off
from crl_pipelines.losses import (  # noqa: F401  (each module registers its losses)
    contrastive,
    triplet,
    ntxent,
    cross_entropy,
    align_uniform,
    generalized,
    supcon,
    looc,
)
# isort: on

from crl_pipelines.losses.base import LOSSES, Loss, build_loss, check_loss_params, loss_settings

__all__ = ["LOSSES", "Loss", "build_loss", "check_loss_params", "loss_settings"]
