"""Geometric augmentations: one affine map per sample, resampled with one ``grid_sample`` call.

Consecutive geometric augmentations (crop, rotation and flip) are composed into a single map, so
an image is resampled once however many of them run.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from crl_pipelines.augment.base import Augmentation


class Geometric(Augmentation):
    """An augmentation that moves pixels by an affine map per sample (see :meth:`affine`).

    ``fills_outside``: whether its map can reach outside the image (then filled with 0).
    """

    fills_outside: ClassVar[bool] = False

    @abstractmethod
    def affine(self, params: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """B×3×3 float64 maps from output to input coordinates (−1..1 at the image's outer
        edges, ``align_corners=False``), for H×W images."""

    def apply(
        self, x: torch.Tensor, params: Mapping[str, torch.Tensor], settings: Any
    ) -> torch.Tensor:
        return warp(x, self.affine(params, *x.shape[-2:]), self.fills_outside)


def transform(
    x: torch.Tensor, steps: Sequence[tuple[Geometric, Mapping[str, torch.Tensor], Any]]
) -> torch.Tensor:
    """Consecutive geometric ``(augmentation, params, settings)`` steps, in order, as one warp.

    A single step runs its own :meth:`~Geometric.apply` (a flip alone stays a pixel reversal).
    Applying map A then B samples output → B's map → A's map, hence ``theta = A @ B``.
    """
    if len(steps) == 1:
        augmentation, params, settings = steps[0]
        return augmentation.apply(x, params, settings)
    height, width = x.shape[-2:]
    theta = steps[0][0].affine(steps[0][1], height, width)
    for augmentation, params, _ in steps[1:]:
        theta = theta @ augmentation.affine(params, height, width)
    return warp(x, theta, any(step[0].fills_outside for step in steps))


def identity(batch: int, device: torch.device) -> torch.Tensor:
    """``batch`` float64 3×3 identity maps, for a :meth:`Geometric.affine` to fill in."""
    return torch.eye(3, dtype=torch.float64, device=device).repeat(batch, 1, 1)


def warp(x: torch.Tensor, theta: torch.Tensor, fill_outside: bool) -> torch.Tensor:
    """Resample every image with its own affine map ``theta`` (B×3×3), in one ``grid_sample``.

    The maps are built in float64, so a 90° rotation lands on pixel centres. The sampling grid is
    one matmul (``F.affine_grid`` is several times slower on the CPU).
    """
    batch, _, height, width = x.shape
    f64 = {"dtype": torch.float64, "device": x.device}
    xs = (2 * torch.arange(width, **f64) + 1) / width - 1
    ys = (2 * torch.arange(height, **f64) + 1) / height - 1
    base = torch.stack(
        [
            xs.expand(height, width),
            ys.view(-1, 1).expand(height, width),
            xs.new_ones(height, width),
        ],
        dim=-1,
    ).to(x.dtype)
    # One (H·W × 3) @ (3 × B·2) matmul for every image's grid (a broadcast bmm is much slower).
    maps = theta[:, :2].permute(2, 0, 1).reshape(3, batch * 2).to(x.dtype)
    grid = (base.view(-1, 3) @ maps).view(height, width, batch, 2).permute(2, 0, 1, 3)
    # "border" replicates the edge pixels within the image's outer half pixel, so crops touching
    # the edge are not darkened (zero padding would weigh in a black pixel there).
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if not fill_outside:
        return out
    # Outside the image (e.g. rotated corners): 0, with a one-pixel linear ramp at the edge.
    pixels = torch.tensor([width / 2, height / 2], dtype=x.dtype, device=x.device)
    inside = (1 - (grid.abs() - 1) * pixels).clamp(0, 1).prod(dim=-1)
    return out * inside.unsqueeze(1)
