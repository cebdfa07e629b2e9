"""NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR.

Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020. With z the 2B L2-normalized embeddings of both views and view i's
partner j(i),

    ℓ_i = −log( exp(z_i·z_j(i)/τ) / Σ_{k≠i} exp(z_i·z_k/τ) ),   L = mean over the 2B views.

Only a row's own partner is its positive (other same-class rows count as negatives, as in SimCLR).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.parameters import Positive


@LOSSES.register("ntxent")
class NTXentLoss(Loss):
    """SimCLR's loss over the 2B views of a batch, temperature τ (default 0.5)."""

    def __init__(self, temperature: Positive = 0.5) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        del labels  # self-supervised: only the pairing is used
        size = anchors.shape[0]
        z = F.normalize(torch.cat([anchors, positives]), dim=1)
        logits = z @ z.T / self.temperature
        self_mask = torch.eye(2 * size, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        partner = torch.arange(2 * size, device=z.device).roll(size)
        return F.cross_entropy(logits, partner)
