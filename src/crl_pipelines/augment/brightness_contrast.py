"""``brightness_contrast``: brightness then contrast factors, applied together with probability p.

The image is multiplied by the brightness factor, then its deviations from its mean (over its
channels and pixels) are scaled by the contrast factor; clamped to 0..255 after each, as
torchvision does.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from crl_pipelines.augment.base import AUGMENTATIONS, Augmentation, coin, uniform, where_applied
from crl_pipelines.parameters import Probability, Settings, interval


class BrightnessContrastSettings(Settings):
    """Brightness and contrast factor ranges, applied together with probability ``p``."""

    brightness: interval(0.0) = (0.6, 1.4)
    contrast: interval(0.0) = (0.6, 1.4)
    p: Probability = 0.8


@AUGMENTATIONS.register("brightness_contrast")
class BrightnessContrast(Augmentation):
    """Per-sample brightness and contrast factors."""

    Settings = BrightnessContrastSettings
    keys = ("brightness", "contrast", "applied")

    def draw(
        self,
        settings: BrightnessContrastSettings,
        batch: int,
        generator: torch.Generator,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        return {
            "brightness": uniform(settings.brightness, batch, generator, device),
            "contrast": uniform(settings.contrast, batch, generator, device),
            "applied": coin(settings.p, batch, generator, device),
        }

    def apply(
        self,
        x: torch.Tensor,
        params: Mapping[str, torch.Tensor],
        settings: BrightnessContrastSettings,
    ) -> torch.Tensor:
        brightness = params["brightness"].to(x.dtype).view(-1, 1, 1, 1)
        contrast = params["contrast"].to(x.dtype).view(-1, 1, 1, 1)
        y = (x * brightness).clamp(0, 255)
        mean = y.mean(dim=(1, 2, 3), keepdim=True)
        y = ((y - mean) * contrast + mean).clamp(0, 255)
        return where_applied(params["applied"], y, x)
