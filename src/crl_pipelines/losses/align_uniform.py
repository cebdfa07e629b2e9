"""Alignment and uniformity on the hypersphere.

Wang & Isola, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere", ICML 2020. On L2-normalized embeddings,

    L_align(α)   = mean_i ‖ã_i − p̃_i‖₂^α               over the B positive pairs (row i of each),
    L_uniform(t) = log mean_{i<j} exp(−t‖u_i − u_j‖₂²)  over the distinct pairs of one view,
    L            = L_align(α) + λ·(L_uniform(t)(ã) + L_uniform(t)(p̃)) / 2.

Uniformity follows the authors' reference implementation: it is computed on the anchors and on the
positives separately (``torch.pdist`` over each view's B rows, so pairs across the two views are
not used) and the two are averaged. Defaults are the paper's: α = 2, t = 2, λ = 1.

:func:`alignment` and :func:`uniformity` double as metrics. They score the rows exactly as given
and do **not** normalize; pass L2-normalized embeddings to get the paper's quantities (the loss
normalizes before calling them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.parameters import NonNegative, Positive, check


def alignment(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """mean_i ‖x_i − y_i‖₂^α over paired rows, on the rows as given (no normalization).

    The gradient is finite (zero) where a pair coincides, for any α > 0.
    """
    alpha = check(Positive, alpha, "alignment.alpha")
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"alignment: x and y must be N×D of one shape, got {x.shape}, {y.shape}")
    squared = (x - y).pow(2).sum(dim=1)
    if alpha == 2.0:
        return squared.mean()
    # ‖·‖^α = (‖·‖²)^(α/2) has an infinite derivative at 0 for α < 2; keep the zeros out of pow.
    nonzero = squared > 0
    powered = torch.where(nonzero, squared, torch.ones_like(squared)).pow(alpha / 2)
    return torch.where(nonzero, powered, torch.zeros_like(powered)).mean()


def uniformity(x: torch.Tensor, t: float = 2.0) -> torch.Tensor:
    """log mean_{i<j} exp(−t‖x_i − x_j‖₂²) over the N(N−1)/2 distinct row pairs of ``x``.

    Computed as logsumexp(−t·d²) − log(N(N−1)/2), which stays finite where the plain mean of
    exponentials would underflow. Rows are scored as given (no normalization).
    """
    t = check(Positive, t, "uniformity.t")
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"uniformity: x must be N×D with N ≥ 2 rows, got shape {tuple(x.shape)}")
    squared = torch.pdist(x, p=2).pow(2)
    return torch.logsumexp(-t * squared, dim=0) - math.log(squared.numel())


@LOSSES.register("align_uniform")
class AlignUniformLoss(Loss):
    """L_align(α) + λ·L_uniform(t) on L2-normalized embeddings (defaults α = 2, t = 2, λ = 1).

    λ = 0 leaves the alignment term alone (the collapse ablation). The tuner leaves α, the
    alignment's exponent (a choice of metric, 1 or 2 in the paper), as it is.
    """

    not_tuned = ("alpha",)

    def __init__(self, alpha: Positive = 2.0, t: Positive = 2.0, weight: NonNegative = 1.0) -> None:
        super().__init__()
        self.alpha, self.t, self.weight = float(alpha), float(t), float(weight)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        del labels  # self-supervised: only the pairing is used
        a = F.normalize(anchors, dim=1)
        p = F.normalize(positives, dim=1)
        uniform = (uniformity(a, self.t) + uniformity(p, self.t)) / 2
        return alignment(a, p, self.alpha) + self.weight * uniform
