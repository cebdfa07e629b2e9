"""Gaussian blur (CIFAR-10-C's gaussian_blur): σ = 0.4 … 1.0 pixels of a 32-pixel image,
scaled to the image's side; reflecting edges."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("blur", severities=(0.4, 0.6, 0.7, 0.8, 1.0), unit="σ (px at 32 px)")
def blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    scaled = sigma * x.shape[-1] / 32
    return gaussian_filter(x, sigma=(0, 0, scaled, scaled), mode="reflect")
