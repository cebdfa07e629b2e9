"""Deterministic corruptions of the test images, in the manner of MNIST-C (Mu & Gilmer 2019) and
CIFAR-10-C (Hendrycks & Dietterich 2019), each at five severities: how much of a
representation's accuracy survives noise, blur, contrast, brightness, rotation, translation
and pixelation it was not trained on. One module per corruption, registered beside its function
(``@CORRUPTIONS.register("blur", severities=(...))``); adding one is its module and its line
below."""

# isort: off
from crl_pipelines.corruptions import (  # noqa: F401
    gaussian_noise,
    blur,
    contrast,
    brightness,
    rotation,
    translation,
    pixelate,
)
# isort: on

from crl_pipelines.corruptions.base import CORRUPTIONS, SEVERITIES, Corruption, corrupt

__all__ = ["CORRUPTIONS", "SEVERITIES", "Corruption", "corrupt"]
