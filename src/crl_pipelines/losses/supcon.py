"""Supervised contrastive loss, L^sup_out.

Khosla, Teterwak, Wang, Sarna, Tian, Isola, Maschinot, Liu & Krishnan, "Supervised Contrastive
Learning", NeurIPS 2020, eq. 2. With z the 2B L2-normalized embeddings of both views, each view
carrying its row's label, and P(i) the other views with the label of view i,

    ℓ_i = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{k≠i} exp(z_i·z_k/τ) ),

averaged over the views with |P(i)| > 0 (every view here: its own partner is always in P(i)).
τ defaults to 0.1, the paper's. With one pair per class (all labels distinct) P(i) is the partner
alone and the loss is NT-Xent at the same τ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.parameters import Positive


@LOSSES.register("supcon")
class SupConLoss(Loss):
    """Every same-class view is a positive, every other-class view a negative; τ default 0.1."""

    needs_labels = True

    def __init__(self, temperature: Positive = 0.1) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        size = anchors.shape[0]
        if labels.shape != (size,):
            raise ValueError(
                f"supcon loss: labels must have one entry per row ({size}), "
                f"got shape {tuple(labels.shape)}"
            )
        z = F.normalize(torch.cat([anchors, positives]), dim=1)
        view_labels = torch.cat([labels, labels])
        self_mask = torch.eye(2 * size, dtype=torch.bool, device=z.device)
        logits = (z @ z.T / self.temperature).masked_fill(self_mask, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        positive_mask = (view_labels[:, None] == view_labels[None, :]) & ~self_mask
        positive_log_prob = torch.where(positive_mask, log_prob, torch.zeros_like(log_prob))
        counts = positive_mask.sum(dim=1)
        has_positive = counts > 0
        per_view = -positive_log_prob.sum(dim=1)[has_positive] / counts[has_positive]
        return per_view.mean()
