"""``flip``: horizontal flip with probability ``p``.

Alone it is an exact pixel reversal; after a crop or rotation it is folded into their affine map
(exact for uint8, ~1e-4 for float).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from crl_pipelines.augment.base import AUGMENTATIONS, coin, where_applied
from crl_pipelines.augment.geometry import Geometric, identity
from crl_pipelines.parameters import Probability, Settings


class FlipSettings(Settings):
    """Horizontal flip with probability ``p``."""

    p: Probability = 0.5


@AUGMENTATIONS.register("flip")
class Flip(Geometric):
    """Horizontal flip of the samples whose ``applied`` mask is set."""

    Settings = FlipSettings
    keys = ("applied",)

    def draw(
        self, settings: FlipSettings, batch: int, generator: torch.Generator, device: torch.device
    ) -> dict[str, torch.Tensor]:
        return {"applied": coin(settings.p, batch, generator, device)}

    def affine(self, params: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        applied = params["applied"]
        mirror = identity(len(applied), applied.device)
        mirror[:, 0, 0] = 1.0 - 2.0 * applied.to(torch.float64)  # x ↦ −x where applied
        return mirror

    def apply(
        self, x: torch.Tensor, params: Mapping[str, torch.Tensor], settings: FlipSettings
    ) -> torch.Tensor:
        return where_applied(params["applied"], x.flip(-1), x)
