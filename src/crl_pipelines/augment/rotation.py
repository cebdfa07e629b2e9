"""``rotation``: rotation about the image centre by an angle uniform in ``degrees``.

Positive angles turn counter-clockwise (as ``torch.rot90``); corners from outside the image are
filled with 0 (a one-pixel ramp at the edge). After a crop, the crop is rotated, so its corners
come from the image around the crop where there is one. ``angle`` is in degrees.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from crl_pipelines.augment.base import AUGMENTATIONS, uniform
from crl_pipelines.augment.geometry import Geometric, identity
from crl_pipelines.parameters import Settings, interval


class RotationSettings(Settings):
    """Rotation by an angle uniform in ``degrees`` (a number d in the parameters means [−d, d])."""

    degrees: interval(-360.0, 360.0, symmetric=True) = (-15.0, 15.0)


@AUGMENTATIONS.register("rotation")
class Rotation(Geometric):
    """Rotation about the centre, in pixels (square pixels whatever the image's aspect ratio)."""

    Settings = RotationSettings
    keys = ("angle",)
    fills_outside = True

    def draw(
        self,
        settings: RotationSettings,
        batch: int,
        generator: torch.Generator,
        device: torch.device,
    ) -> dict[str, torch.Tensor]:
        return {"angle": uniform(settings.degrees, batch, generator, device)}

    def affine(self, params: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        radians = torch.deg2rad(params["angle"].to(torch.float64))
        cos, sin = radians.cos(), radians.sin()
        # A rotation in pixels, in normalized coordinates (a unit is W/2 pixels in x, H/2 in y).
        turn = identity(len(radians), radians.device)
        turn[:, 0, 0], turn[:, 0, 1] = cos, -sin * height / width
        turn[:, 1, 0], turn[:, 1, 1] = sin * width / height, cos
        return turn
