"""Triplet margin loss over every in-batch triplet.

Schroff, Kalenichenko & Philbin, "FaceNet", CVPR 2015; the guide's "Contrastive Triplets":

    L = max(0, D(a, p) − D(a, n) + m),

averaged over all triplets of ``triplet_indices`` (B(B−1) with one pair per class), m = 1.
"""

from __future__ import annotations

import torch
from torch import nn

from crl_pipelines.losses.pairs import row_distances, triplet_indices


class TripletLoss(nn.Module):
    """Asks each anchor to be closer to its positive than to any negative, by a margin ``m``."""

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        if margin <= 0:
            raise ValueError(f"triplet loss: margin must be positive, got {margin}")
        self.margin = float(margin)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        anchor_rows, positive_rows, negative_rows = triplet_indices(labels)
        a = anchors[anchor_rows]
        to_positive = row_distances(a, positives[positive_rows])
        to_negative = row_distances(a, positives[negative_rows])
        return (to_positive - to_negative + self.margin).clamp_min(0).mean()
