"""``crop``: random resized crop, as torchvision's ``RandomResizedCrop``.

``scale`` is the crop's area as a fraction of the image (uniform), ``ratio`` its aspect ratio
width/height (log-uniform); the crop is resized back to the input size (bilinear). A side that
would exceed the image is clamped to it. ``offset`` (N×2) places the crop's centre, −1..1 across
the room left in x and y.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from crl_pipelines.augment.base import AUGMENTATIONS, uniform
from crl_pipelines.augment.geometry import Geometric, identity
from crl_pipelines.parameters import Settings, interval


class CropSettings(Settings):
    """Random resized crop: area fraction ``scale`` and aspect ratio (w/h) ``ratio`` ranges."""

    scale: interval(0.0, 1.0, open_low=True) = (0.6, 1.0)
    ratio: interval(0.0, open_low=True) = (3 / 4, 4 / 3)


@AUGMENTATIONS.register("crop")
class Crop(Geometric):
    """Random resized crop (a geometric augmentation: it never samples outside the image)."""

    Settings = CropSettings
    keys = ("scale", "ratio", "offset")

    def draw(
        self, settings: CropSettings, batch: int, generator: torch.Generator, device: torch.device
    ) -> dict[str, torch.Tensor]:
        log_ratio = (math.log(settings.ratio[0]), math.log(settings.ratio[1]))
        return {
            "scale": uniform(settings.scale, batch, generator, device),
            "ratio": uniform(log_ratio, batch, generator, device).exp(),
            "offset": uniform((-1.0, 1.0), (batch, 2), generator, device),
        }

    def affine(self, params: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        scale, ratio, offset = (params[key].to(torch.float64) for key in self.keys)
        # Fractions of the image's width and height whose pixel area is scale·H·W, w/h = ratio.
        crop_w = (scale * ratio * height / width).sqrt().clamp(max=1.0)
        crop_h = (scale / ratio * width / height).sqrt().clamp(max=1.0)
        zero = torch.zeros_like(crop_w)
        theta = identity(len(scale), scale.device)
        theta[:, 0] = torch.stack([crop_w, zero, offset[:, 0] * (1 - crop_w)], dim=1)
        theta[:, 1] = torch.stack([zero, crop_h, offset[:, 1] * (1 - crop_h)], dim=1)
        return theta
