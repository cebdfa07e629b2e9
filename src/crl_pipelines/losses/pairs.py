"""Pairs and triplets formed from a batch of (anchor, positive) rows, without Python loops.

The guide's batch holds one (anchor, positive) pair per class, so for anchor ``i`` the positive
row ``i`` is similar and every other positive row is a negative. With several pairs per class,
similarity is decided by the labels: rows of the same class are similar.
"""

from __future__ import annotations

import torch


def pair_indices(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All B² (anchor row, positive-view row) pairs and whether each is a similar pair.

    Returns:
        ``anchor_rows``, ``other_rows`` (int64, length B²) and ``similar`` (bool, length B²),
        ordered anchor-major as in the guide's ``form_pairs``.
    """
    size = labels.shape[0]
    rows = torch.arange(size, device=labels.device)
    anchor_rows = rows.repeat_interleave(size)
    other_rows = rows.repeat(size)
    return anchor_rows, other_rows, labels[anchor_rows] == labels[other_rows]


def triplet_indices(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All in-batch triplets: anchor ``i``, its own positive row ``i``, and every positive-view
    row ``j`` of another class as the negative (B(B-1) triplets with one pair per class).

    Returns:
        ``anchor_rows``, ``positive_rows``, ``negative_rows`` (int64, one entry per triplet).
    """
    anchor_rows, negative_rows = torch.nonzero(labels[:, None] != labels[None, :], as_tuple=True)
    return anchor_rows, anchor_rows, negative_rows


def row_distances(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distance between row i of ``x`` and row i of ``y``, with a gradient that stays
    finite at zero distance."""
    return (x - y).pow(2).sum(dim=-1).clamp_min(eps).sqrt()
