"""What every loss is: a torch module whose class states what the trainer must give it.

A loss's constructor arguments are its parameters (``loss_params`` in an experiment's entry),
typed with :mod:`crl_pipelines.validation`'s types, so the run specification checks them
before anything runs. ``embedding_dim`` and ``num_classes``, when a constructor takes them, are
filled in by the trainer from the encoder and the data, never from the parameters.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from torch import nn

CONTEXT_ARGUMENTS = ("embedding_dim", "num_classes")


class Loss(nn.Module):
    """Base of the project's losses.

    Traits (class attributes):
        needs_labels: trained only on labelled data (the class labels enter the loss).
        views: what ``forward`` takes. ``"pairs"``: ``(anchors, positives, labels)``, B×D
            embeddings of two views whose row i is a positive pair; ``"looc"``:
            ``(embeddings, labels)`` with every LOOC view through every projection head,
            (heads, views, B, D), trained on the ``looc_views`` sampling.
    """

    needs_labels: ClassVar[bool] = False
    views: ClassVar[Literal["pairs", "looc"]] = "pairs"
