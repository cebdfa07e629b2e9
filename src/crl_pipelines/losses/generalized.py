"""Generalized contrastive losses: L_alignment + λ·L_distribution.

Chen, Luo & Li, "Intriguing Properties of Contrastive Losses", NeurIPS 2021, table 1. With n
positive pairs (row i of ``anchors`` and of ``positives``) of d-dimensional embeddings z, and z̃ the
L2-normalized z (used only with the uniform-hypersphere prior):

    L_align = (1/(n d)) Σ_i ‖z_i^a − z_i^p‖²                      (z̃ for the hypersphere priors)

and L_distribution, on the 2n views of the batch (both views stacked, 2n×d):

- ``lse_hypersphere``: mean over the 2n views i of log Σ_{j≠i} exp(z̃_i·z̃_j / τ)
  (τ default 0.5, the project's NT-Xent default);
- ``swd_hypersphere``: SWD(Z̃, Z^prior), prior uniform on the unit sphere (normalized N(0, I));
- ``swd_hypercube``: SWD(Z, Z^prior), prior uniform on the cube [−1, 1]^d;
- ``swd_gaussian``: SWD(Z, Z^prior), prior the standard normal N(0, I).

SWD (:func:`sliced_wasserstein`) is the mean over K unit projection directions w_k of the squared
1-D Wasserstein-2 distance between the projected samples, which for two equal-size samples is the
mean over points of the squared differences of the sorted projections. Each call draws K fresh
directions (uniform on the sphere) and then 2n fresh prior samples, in that order, from torch's
global RNG (which training seeds), on the embeddings' device and in their dtype.

Conventions and defaults, and where they differ from the authors' colab (google-research/simclr,
``colabs/intriguing_properties``):

- L_align has no factor ½ (the colab's ``mean((h1 − h2)²) / 2``); it is absorbed in λ.
- The log-sum-exp excludes j = i, so the distribution term is exactly NT-Xent's denominator and
  ``lse_hypersphere`` with λ = 2τ/d equals (2τ/d)·(NT-Xent(τ) + 1/τ): same minimizers and
  gradient directions as SimCLR's loss. The colab keeps j = i and subtracts the constant log d.
- K = 128 i.i.d. random directions (default) instead of the colab's d orthogonal ones: 128 is the
  colab's count for SimCLR's 128-d head, it is 4× this project's 32-d embedding (enough to keep
  the Monte-Carlo noise of the estimate small), and it does not change when the embedding size
  does. Cost is one (2n×d)(d×K) product and K sorts of 2n values: negligible next to the encoder.
- λ = 1 (the colab's default). For ``lse_hypersphere`` note that λ = 2τ/d (1/32 at τ = 0.5,
  d = 32) is the NT-Xent balance; λ = 1 weights the distribution term d/(2τ) times more.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from crl_pipelines.losses.base import LOSSES, Loss
from crl_pipelines.parameters import NonNegative, Positive, PositiveInt

PRIORS = ("hypersphere", "hypercube", "gaussian")


def generalized_alignment(anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """(1/(n d)) Σ_i ‖a_i − p_i‖² over the n paired rows, on the rows as given."""
    if anchors.shape != positives.shape or anchors.dim() != 2:
        raise ValueError(
            f"alignment: anchors and positives must be n×d of one shape, "
            f"got {tuple(anchors.shape)} and {tuple(positives.shape)}"
        )
    return (anchors - positives).pow(2).mean()


def random_directions(
    num: int,
    dim: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``num`` directions uniform on the unit sphere of R^dim (normalized Gaussians), num×dim,
    drawn from torch's global RNG."""
    return F.normalize(torch.randn(num, dim, device=device, dtype=dtype), dim=1)


def sample_prior(
    prior: str,
    num: int,
    dim: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``num`` samples (num×dim) of ``prior`` from torch's global RNG: ``hypersphere`` (uniform on
    the unit sphere), ``hypercube`` (uniform on [−1, 1]^dim) or ``gaussian`` (N(0, I))."""
    if prior == "hypersphere":
        return F.normalize(torch.randn(num, dim, device=device, dtype=dtype), dim=1)
    if prior == "hypercube":
        return 2 * torch.rand(num, dim, device=device, dtype=dtype) - 1
    if prior == "gaussian":
        return torch.randn(num, dim, device=device, dtype=dtype)
    raise ValueError(f"unknown prior {prior!r}; known priors: {list(PRIORS)}")


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Sliced squared Wasserstein-2 distance between the equal-size samples ``x`` and ``y`` (m×d).

    ``projections`` is K×d, one direction per row, used as given (pass unit rows). For each
    direction w_k the 1-D W2² between the projected samples is mean_j (sort(x·w_k)_j −
    sort(y·w_k)_j)²; the result is the mean over the K directions. Differentiable in ``x``
    and ``y`` (through the sort's permutation).
    """
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(
            f"sliced_wasserstein: x and y must be m×d of one shape, "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if projections.dim() != 2 or projections.shape[1] != x.shape[1] or projections.shape[0] < 1:
        raise ValueError(
            f"sliced_wasserstein: projections must be K×{x.shape[1]} with K ≥ 1, "
            f"got {tuple(projections.shape)}"
        )
    x_sorted = torch.sort(x @ projections.T, dim=0).values  # m×K, each column sorted
    y_sorted = torch.sort(y @ projections.T, dim=0).values
    return (x_sorted - y_sorted).pow(2).mean()


@LOSSES.register("lse_hypersphere")
class LSEHypersphereLoss(Loss):
    """Alignment + λ·log-sum-exp uniformity on the hypersphere ("decoupled" NT-Xent), τ = 0.5."""

    def __init__(self, temperature: Positive = 0.5, weight: NonNegative = 1.0) -> None:
        super().__init__()
        self.temperature, self.weight = float(temperature), float(weight)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        del labels  # self-supervised: only the pairing is used
        a = F.normalize(anchors, dim=1)
        p = F.normalize(positives, dim=1)
        views = torch.cat([a, p])
        logits = views @ views.T / self.temperature
        self_mask = torch.eye(views.shape[0], dtype=torch.bool, device=views.device)
        distribution = torch.logsumexp(logits.masked_fill(self_mask, float("-inf")), dim=1).mean()
        return generalized_alignment(a, p) + self.weight * distribution


class SlicedWassersteinLoss(Loss):
    """Alignment + λ·SWD between the 2n views and as many samples of ``prior``.

    Subclasses fix ``prior`` (and with it whether the embeddings are L2-normalized first).
    """

    prior: ClassVar[str] = "gaussian"

    def __init__(self, num_projections: PositiveInt = 128, weight: NonNegative = 1.0) -> None:
        super().__init__()
        self.num_projections, self.weight = int(num_projections), float(weight)

    def forward(
        self, anchors: torch.Tensor, positives: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        del labels  # self-supervised: only the pairing is used
        if self.prior == "hypersphere":
            anchors = F.normalize(anchors, dim=1)
            positives = F.normalize(positives, dim=1)
        views = torch.cat([anchors, positives])
        size, dim = views.shape
        like = {"device": views.device, "dtype": views.dtype}
        projections = random_directions(self.num_projections, dim, **like)
        prior_samples = sample_prior(self.prior, size, dim, **like)
        distance = sliced_wasserstein(views, prior_samples, projections)
        return generalized_alignment(anchors, positives) + self.weight * distance


@LOSSES.register("swd_hypersphere")
class SWDHypersphereLoss(SlicedWassersteinLoss):
    """Alignment of normalized views + λ·SWD to the uniform distribution on the unit sphere."""

    prior = "hypersphere"


@LOSSES.register("swd_hypercube")
class SWDHypercubeLoss(SlicedWassersteinLoss):
    """Alignment of raw views + λ·SWD to the uniform distribution on [−1, 1]^d."""

    prior = "hypercube"


@LOSSES.register("swd_gaussian")
class SWDGaussianLoss(SlicedWassersteinLoss):
    """Alignment of raw views + λ·SWD to the standard normal N(0, I)."""

    prior = "gaussian"
