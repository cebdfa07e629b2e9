"""The registry: every augmentation by name, in the order :func:`~crl_pipelines.augment.apply`
applies them (and draws their parameters). Adding one = its module + one entry here."""

from __future__ import annotations

from crl_pipelines.augment.base import Augmentation
from crl_pipelines.augment.blur import Blur
from crl_pipelines.augment.brightness_contrast import BrightnessContrast
from crl_pipelines.augment.color_jitter import ColorJitter
from crl_pipelines.augment.crop import Crop
from crl_pipelines.augment.flip import Flip
from crl_pipelines.augment.rotation import Rotation

AUGMENTATIONS: dict[str, Augmentation] = {
    "crop": Crop(),
    "rotation": Rotation(),
    "flip": Flip(),
    "brightness_contrast": BrightnessContrast(),
    "color_jitter": ColorJitter(),
    "blur": Blur(),
}
