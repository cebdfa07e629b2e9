"""Contrast (CIFAR-10-C): each channel's deviations from its mean over the image scaled by
c = 0.75 … 0.15."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("contrast", severities=(0.75, 0.5, 0.4, 0.3, 0.15), unit="factor")
def contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(2, 3), keepdims=True)
    return (x - means) * factor + means
