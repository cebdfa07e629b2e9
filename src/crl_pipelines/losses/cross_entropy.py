"""Supervised baseline: a linear classifier on the embedding, trained with cross-entropy.

The guide's "Cross-entropy" row: the same encoder and embedding size, but the embedding feeds a
linear layer that predicts the class, so the representation is shaped by the labels directly.
The classifier belongs to the loss; only the encoder is kept and scored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crl_pipelines.losses.base import LOSSES, Loss


@LOSSES.register("cross_entropy")
class CrossEntropyLoss(Loss):
    """Cross-entropy of a linear classifier over both views' embeddings and their labels."""

    needs_labels = True

    def __init__(self, embedding_dim: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(embedding_dim, num_classes)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        logits = self.classifier(torch.cat([anchors, positives]))
        return F.cross_entropy(logits, torch.cat([labels, labels]))
