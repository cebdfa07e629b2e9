"""``color_jitter`` (3-channel RGB only): saturation and hue jitter with probability ``p``.

The chroma is scaled by the saturation factor and rotated by ``hue`` turns (fractions of 360°,
torchvision's unit), both in YIQ space (NTSC luma Y = 0.299 R + 0.587 G + 0.114 B; chroma I, Q).
Scaling (I, Q) equals torchvision's blend with the grayscale image; rotating (I, Q) about the grey
axis keeps the luma exactly (before clamping) but is not HSV's hue. One 3×3 matrix per sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from crl_pipelines.augment.base import AUGMENTATIONS, Augmentation, coin, uniform, where_applied
from crl_pipelines.parameters import Probability, Settings, interval

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)


class ColorJitterSettings(Settings):
    """Saturation factor and hue shift (turns; a number h means [−h, h]) with probability ``p``."""

    saturation: interval(0.0) = (0.2, 1.8)
    hue: interval(-0.5, 0.5, symmetric=True) = (-0.2, 0.2)
    p: Probability = 0.8


@AUGMENTATIONS.register("color_jitter")
class ColorJitter(Augmentation):
    """Per-sample saturation and hue, as one colour matrix per sample (RGB images only)."""

    Settings = ColorJitterSettings
    keys = ("saturation", "hue", "applied")
    channels = 3

    def draw(
        self,
        settings: ColorJitterSettings,
        batch: int,
        generator: torch.Generator,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        return {
            "saturation": uniform(settings.saturation, batch, generator, device),
            "hue": uniform(settings.hue, batch, generator, device),
            "applied": coin(settings.p, batch, generator, device),
        }

    def apply(
        self, x: torch.Tensor, params: Mapping[str, torch.Tensor], settings: ColorJitterSettings
    ) -> torch.Tensor:
        to_yiq = _RGB_TO_YIQ.to(x.device)
        from_yiq = torch.linalg.inv(to_yiq)
        turn = 2 * math.pi * params["hue"].to(torch.float64)
        saturation = params["saturation"].to(torch.float64)
        chroma = torch.zeros(len(turn), 3, 3, dtype=torch.float64, device=x.device)
        chroma[:, 0, 0] = 1.0
        chroma[:, 1, 1], chroma[:, 1, 2] = saturation * turn.cos(), -saturation * turn.sin()
        chroma[:, 2, 1], chroma[:, 2, 2] = saturation * turn.sin(), saturation * turn.cos()
        matrices = (from_yiq @ chroma @ to_yiq).to(x.dtype)
        y = torch.einsum("bij,bjhw->bihw", matrices, x).clamp(0, 255)
        return where_applied(params["applied"], y, x)
