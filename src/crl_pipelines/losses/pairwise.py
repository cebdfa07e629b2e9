"""All pairs and triplets of a batch of (anchor, positive) rows, as B×B matrices.

The guide's batch holds one (anchor, positive) pair per class, so for anchor ``i`` the positive
row ``i`` is similar and every other positive row is a negative: B² pairs, B(B−1) triplets.
With several pairs per class, similarity is decided by the labels (rows of the same class are
similar). Entry (i, j) of each matrix below is the pair (anchor i, positive-view row j); the
losses reduce over masks of these matrices instead of gathering repeated rows, which keeps the
backward pass free of scatter-adds, so training is bit-for-bit repeatable on the CPU.
"""

from __future__ import annotations

import torch


def similarity_mask(labels: torch.Tensor) -> torch.Tensor:
    """S[i, j] = True when anchor i and positive-view row j share a class (B×B, bool)."""
    return labels[:, None] == labels[None, :]


def squared_distance_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """‖a_i − b_j‖² for every anchor i and positive-view row j (B×B).

    Formed from differences, not the ‖a‖² + ‖b‖² − 2a·b expansion, so identical rows give exactly
    0 and small distances keep their precision.
    """
    return (a[:, None, :] - b[None, :, :]).pow(2).sum(dim=-1)


def distance_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distances (B×B) with a gradient that stays finite at zero distance."""
    return squared_distance_matrix(a, b).clamp_min(eps).sqrt()
