"""Brightness (CIFAR-10-C): the HSV value (the largest channel) raised by c = 0.05 … 0.30, hue
and saturation kept (each pixel's channels scaled together; a black pixel becomes grey c). On a
grayscale image it adds c."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("brightness", severities=(0.05, 0.1, 0.15, 0.2, 0.3), unit="added value")
def brightness(x: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    value = x.max(axis=1, keepdims=True)
    raised = np.minimum(value + shift, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(value > 0, x * raised / value, raised)
    return scaled
