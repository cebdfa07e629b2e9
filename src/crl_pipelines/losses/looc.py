"""LOOC: leave-one-out contrastive learning.

Xiao, Wang, Efros & Darrell, "What Should Not Be Contrastive in Contrastive Learning", ICLR 2021.
One shared backbone, n + 1 projection heads: head 0 maps to the all-invariant space Z_0, head i
to Z_i, which is invariant to every augmentation except the i-th. Each image gives n + 2 views:
the query q, the key k_0 (augmented independently of q) and, per augmentation i, the key k_i
that shares q's parameters for augmentation i and draws the others afresh.

In Z_0 every key of q's image is a positive; in Z_i only k_i is (k_0 and k_j, j ≠ i, differ from
q in augmentation i, so Z_i must tell them apart). Every key of every other image is a negative.
Each positive p of query q contributes the InfoNCE term

    −log( exp(q·p/τ) / (exp(q·p/τ) + Σ_{negatives n} exp(q·n/τ)) )

on L2-normalized embeddings; a space's loss is the mean over its positives, and the LOOC loss
the mean over the n + 1 spaces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.parameters import Positive


@LOSSES.register("looc")
class LOOCLoss(Loss):
    """The LOOC loss over ``embeddings`` of shape (heads = n + 1, views = n + 2, B, d)."""

    views = "looc"  # the trainer gives this loss LOOC's views through every head

    def __init__(self, temperature: Positive = 0.2) -> None:
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        del labels  # self-supervised
        heads, views, batch, _ = embeddings.shape
        if views != heads + 1:
            raise ValueError(
                f"looc loss: {heads} heads need {heads + 1} views (q, k0, one per augmentation), "
                f"got {views}"
            )
        z = F.normalize(embeddings, dim=-1)
        query, keys = z[:, 0], z[:, 1:]  # (H, B, d), (H, K = n + 1, B, d)
        logits = torch.einsum("hbd,hkcd->hbkc", query, keys) / self.temperature
        same_image = torch.eye(batch, dtype=torch.bool, device=z.device)  # [b, c]
        space = torch.arange(heads, device=z.device)[:, None]
        key = torch.arange(heads, device=z.device)[None, :]
        positive_key = (space == 0) | (key == space)  # (H, K): which keys are positives
        positive = positive_key[:, None, :, None] & same_image[None, :, None, :]  # (H, B, K, C)
        flat_logits = logits.reshape(heads, batch, -1)
        flat_positive = positive.expand(heads, batch, heads, batch).reshape(heads, batch, -1)
        negatives = flat_logits.masked_fill(flat_positive, float("-inf")).logsumexp(dim=-1)
        terms = torch.logaddexp(flat_logits, negatives[..., None]) - flat_logits
        per_space = (terms * flat_positive).sum(dim=(1, 2)) / flat_positive.sum(dim=(1, 2))
        return per_space.mean()
