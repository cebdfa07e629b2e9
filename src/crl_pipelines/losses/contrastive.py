"""Margin (contrastive pair) loss.

Hadsell, Chopra & LeCun, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006;
the guide's "Contrastive Pairs": for a pair (x, y) with similarity S (1 same class, 0 otherwise)
and Euclidean distance D between their embeddings,

    L = S·D² + (1 − S)·max(0, m − D)²,

averaged over all B² (anchor, positive-view) pairs of the batch (see ``pairs``).
"""

from __future__ import annotations

import torch

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.losses.pairwise import similarity_mask, squared_distance_matrix
from crl_pipelines.parameters import Positive


@LOSSES.register("contrastive")
class ContrastivePairLoss(Loss):
    """Pulls similar pairs together and pushes dissimilar ones out to a margin ``m`` (default 1)."""

    needs_labels = True

    def __init__(self, margin: Positive = 1.0) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        similar = similarity_mask(labels).to(anchors.dtype)
        squared = squared_distance_matrix(anchors, positives)
        distance = squared.clamp_min(1e-12).sqrt()
        push = (self.margin - distance).clamp_min(0).pow(2)
        return (similar * squared + (1.0 - similar) * push).mean()
