"""Triplet margin loss over every in-batch triplet.

Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015; the guide's "Contrastive Triplets":

    L = max(0, D(a, p) − D(a, n) + m),

averaged over all in-batch triplets: anchor i, its own positive row i, and every positive-view
row j of another class as the negative (B(B−1) triplets with one pair per class), m = 1.
"""

from __future__ import annotations

import torch

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.losses.pairwise import distance_matrix, similarity_mask
from crl_pipelines.parameters import Positive


@LOSSES.register("triplet")
class TripletLoss(Loss):
    """Asks each anchor to be closer to its positive than to any negative, by a margin ``m``."""

    needs_labels = True

    def __init__(self, margin: Positive = 1.0) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        distances = distance_matrix(anchors, positives)  # [i, j] = D(anchor i, positive row j)
        to_own_positive = distances.diagonal()[:, None]
        hinge = (to_own_positive - distances + self.margin).clamp_min(0)
        return hinge[~similarity_mask(labels)].mean()
